package collector

import (
	"fmt"
	"strconv"
	"strings"
)

// firmwareVersion is a dotted numeric version ("6.10.1"). Missing
// components compare as 0, so "6.10" equals "6.10.0".
type firmwareVersion []uint64

// maxVersionParts bounds what is parsed from a server-sent string.
const maxVersionParts = 8

// parseVersion reads a dotted numeric version; ok is false for anything
// else ("", "6.x", "v6", "6..1"), which then has no numeric order.
func parseVersion(s string) (firmwareVersion, bool) {
	if s == "" || len(s) > 64 {
		return nil, false
	}
	parts := strings.Split(s, ".")
	if len(parts) > maxVersionParts {
		return nil, false
	}
	v := make(firmwareVersion, len(parts))
	for i, p := range parts {
		if p == "" || len(p) > 9 {
			return nil, false
		}
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, false
		}
		v[i] = n
	}
	return v, true
}

// ParseMinimumVersion validates the --collector.firmware.minimum-version
// setting.
func ParseMinimumVersion(s string) error {
	if s == "" {
		return nil
	}
	if _, ok := parseVersion(s); !ok {
		return fmt.Errorf("firmware minimum version %q is not a dotted numeric version like 6.10.1", s)
	}
	return nil
}

// compare returns -1, 0 or 1 as a is below, equal to or above b.
func (a firmwareVersion) compare(b firmwareVersion) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y uint64
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	}
	return 0
}
