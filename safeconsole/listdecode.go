package safeconsole

import (
	"errors"
	"fmt"
)

// listScratch is what a PageDecoder reuses from page to page.
type listScratch struct {
	scan jsonScanner
	kbuf []byte // a member name that held escapes
	sbuf []byte // a string value that held escapes
	msg  []byte // the "message" of a refusal
	// recent caches interned strings in front of the intern map: a fleet
	// has a handful of statuses, versions and countries, and four of
	// them per drive through the map's hashing add up at 100,000 drives.
	recent [128]string
}

// listIntern is internBytes behind a small direct-mapped cache. A hit
// compares the bytes in full, so a collision only costs a map lookup.
func (d *PageDecoder) listIntern(b []byte) string {
	n := uint(len(b))
	h := (n*0x9E3779B1 ^ uint(b[0])<<7 ^ uint(b[n-1])<<13 ^ uint(b[n/2])<<3) * 0x85EBCA6B >> 9 % uint(len(d.recent))
	if s := d.recent[h]; s == string(b) {
		return s
	}
	s := d.internBytes(b)
	d.recent[h] = s
	return s
}

// decodeList walks one list answer in a single pass. Members may come in
// any order and a repeated member replaces the earlier one, as with
// encoding/json. Errors are reported in a fixed precedence whatever the
// member order: malformed JSON first (the whole answer is validated), then
// "success", then "total", then the entries.
func (d *PageDecoder) decodeList(body []byte, p *Page) error {
	s := &d.scan
	s.reset(body)
	defer s.reset(nil) // do not hold on to the answer

	if t := s.peekType(); t != jsonObject {
		s.skip()
		s.end()
		if s.err != nil {
			return fmt.Errorf("malformed JSON: %w", s.err)
		}
		return fmt.Errorf("answer is not a JSON object but %s", t)
	}
	var (
		success, totalType, respType jsonType // jsonInvalid: absent
		totalRaw                     []byte
		totalWhole, haveMsg          bool
		respErr                      error
	)
	for ok := s.enterObject(); ok; ok = s.nextMember() {
		switch string(s.key(&d.kbuf)) {
		case "success":
			success = s.peekType()
			s.skip()
		case "total":
			if totalType = s.peekType(); totalType == jsonNumber {
				totalRaw, totalWhole = s.number()
			} else {
				s.skip()
			}
		case "message":
			haveMsg = s.peekType() == jsonString
			if haveMsg {
				d.msg = append(d.msg[:0], s.str(&d.sbuf)...)
			} else {
				s.skip()
			}
		case "response":
			p.Users = p.Users[:0]
			clear(p.Devices)
			p.Devices = p.Devices[:0]
			respErr = nil
			if respType = s.peekType(); respType == jsonArray {
				respErr = d.listEntries(p)
			} else {
				s.skip()
			}
		default:
			s.skip()
		}
	}
	s.end()
	if s.err != nil {
		return fmt.Errorf("malformed JSON: %w", s.err)
	}

	switch success {
	case jsonTrue:
	case jsonFalse:
		msg := ""
		if haveMsg {
			// Kept whole (within reason) so that the caller can redact a
			// token the server echoes before shortening it.
			msg = toValidUTF8(string(d.msg[:min(len(d.msg), 4096)]))
		}
		return &NotSuccessError{Message: msg}
	case jsonInvalid:
		return errors.New(`answer has no "success" field`)
	default:
		return fmt.Errorf(`"success" is %s, not a boolean`, success)
	}
	if totalType == jsonInvalid {
		return errors.New(`answer has no "total"`)
	}
	total, err := wholeNumber(totalType, totalRaw, totalWhole)
	if err != nil {
		return fmt.Errorf(`"total": %w`, err)
	}
	if total < 0 || total > MaxReportedTotal {
		return fmt.Errorf(`"total" %d is out of range (0 to %d)`, total, MaxReportedTotal)
	}
	p.Total = total
	switch respType {
	case jsonInvalid, jsonNull:
		return nil // an empty list; the caller compares with total
	case jsonArray:
		return respErr
	}
	return fmt.Errorf(`"response" is %s, not a list`, respType)
}

// wholeNumber applies intValue's rule to a scanned value.
func wholeNumber(t jsonType, raw []byte, whole bool) (int64, error) {
	if t != jsonNumber {
		return 0, fmt.Errorf("is %s, not a number", t)
	}
	n, ok := parseWholeInt(raw, whole)
	if !ok {
		return 0, fmt.Errorf("%s is not a whole number in range", truncate(string(raw), 40))
	}
	return n, nil
}

// listInt reads a value that must be a whole number.
func (d *PageDecoder) listInt() (int64, error) {
	s := &d.scan
	t := s.peekType()
	if t != jsonNumber {
		s.skip()
		return wholeNumber(t, nil, false)
	}
	raw, whole := s.number()
	return wholeNumber(t, raw, whole)
}

// listEntries decodes the "response" array. After the first error the rest
// is only validated.
func (d *PageDecoder) listEntries(p *Page) error {
	s := &d.scan
	var err error
	i := 0
	for ok := s.enterArray(); ok; ok = s.nextElement() {
		if err != nil {
			s.skip()
			continue
		}
		if t := s.peekType(); t != jsonObject {
			s.skip()
			err = fmt.Errorf("entry %d: entry is %s, not an object", i, t)
			continue
		}
		if e := d.listUser(p); e != nil {
			err = fmt.Errorf("entry %d: %w", i, e)
		}
		i++
	}
	return err
}

func (d *PageDecoder) listUser(p *Page) error {
	s := &d.scan
	userIdx := len(p.Users)
	p.Users = append(p.Users, User{}) // its drives point here; filled in below
	mark := len(p.Devices)
	var (
		u                 User
		haveID            bool
		fieldErr, listErr error
	)
	for ok := s.enterObject(); ok; ok = s.nextMember() {
		k := s.key(&d.kbuf)
		if fieldErr != nil {
			s.skip()
			continue
		}
		switch string(k) {
		case "id":
			var err error
			u.ID, err = d.listInt()
			if haveID = err == nil; err != nil {
				fieldErr = fmt.Errorf(`"id": %w`, err)
			}
		case "ou":
			if s.peekType() == jsonNull {
				s.skip()
				continue
			}
			var err error
			u.OU, err = d.listInt()
			if u.HasOU = err == nil; err != nil {
				fieldErr = fmt.Errorf(`"ou": %w`, err)
			}
		case "geolocation":
			u.Country, fieldErr = d.listCountry()
		case "safesticks":
			// A repeated member replaces the drives of the earlier one.
			clear(p.Devices[mark:])
			p.Devices = p.Devices[:mark]
			listErr = nil
			switch t := s.peekType(); t {
			case jsonNull:
				s.skip()
			case jsonArray:
				listErr = d.listSticks(userIdx, p)
			default:
				s.skip()
				listErr = fmt.Errorf(`"safesticks" is %s, not a list`, t)
			}
		default:
			s.skip()
		}
	}
	if fieldErr != nil {
		return fieldErr
	}
	if !haveID {
		return errors.New(`entry has no "id"`)
	}
	p.Users[userIdx] = u
	if listErr != nil {
		return fmt.Errorf("user %d: %w", u.ID, listErr)
	}
	return nil
}

func (d *PageDecoder) listSticks(userIdx int, p *Page) error {
	s := &d.scan
	var err error
	j := 0
	for ok := s.enterArray(); ok; ok = s.nextElement() {
		if err != nil {
			s.skip()
			continue
		}
		if t := s.peekType(); t != jsonObject {
			s.skip()
			err = fmt.Errorf("safestick %d: is %s, not an object", j, t)
			continue
		}
		if e := d.listDevice(userIdx, p); e != nil {
			err = fmt.Errorf("safestick %d: %w", j, e)
		}
		j++
	}
	return err
}

func (d *PageDecoder) listDevice(userIdx int, p *Page) error {
	s := &d.scan
	dev := Device{User: userIdx}
	var ferr error
	for ok := s.enterObject(); ok; ok = s.nextMember() {
		k := s.key(&d.kbuf)
		if ferr != nil {
			s.skip()
			continue
		}
		var (
			name string
			err  error
		)
		switch string(k) {
		case "serial":
			name = "serial"
			if t := s.peekType(); t != jsonString {
				s.skip()
				err = fmt.Errorf("is %s, not a string", t)
			} else {
				dev.Serial = toValidUTF8(string(s.str(&d.sbuf)))
			}
		case "safeStickStatus":
			name = "safeStickStatus"
			dev.Status, err = d.listOptString()
		case "version":
			name = "version"
			dev.Version, err = d.listOptString()
		case "isOnline":
			name = "isOnline"
			dev.Online, err = d.listOptBool()
		case "isUpdated":
			name = "isUpdated"
			dev.Updated, err = d.listOptBool()
		case "lastUsed":
			name = "lastUsed"
			dev.LastUsed, dev.Used, err = d.listOptTime()
		case "geolocation":
			name = "geolocation"
			dev.Country, err = d.listCountry()
		case "owner":
			if d.WantOwner && s.peekType() == jsonString {
				dev.Owner = toValidUTF8(string(s.str(&d.sbuf)))
			} else {
				s.skip()
			}
		default:
			s.skip()
		}
		if err != nil {
			ferr = fmt.Errorf("%q: %w", name, err)
		}
	}
	if ferr != nil {
		return ferr
	}
	if dev.Serial == "" {
		return errors.New(`drive has no "serial"`)
	}
	p.Devices = append(p.Devices, dev)
	return nil
}

// listCountry reads geolocation.country; a missing or null geolocation is "".
func (d *PageDecoder) listCountry() (string, error) {
	s := &d.scan
	switch t := s.peekType(); t {
	case jsonNull:
		s.skip()
		return "", nil
	case jsonObject:
	default:
		s.skip()
		return "", fmt.Errorf(`"geolocation" is %s, not an object`, t)
	}
	var (
		country string
		err     error
	)
	for ok := s.enterObject(); ok; ok = s.nextMember() {
		if string(s.key(&d.kbuf)) != "country" || err != nil {
			s.skip()
			continue
		}
		if country, err = d.listOptString(); err != nil {
			err = fmt.Errorf(`"geolocation.country": %w`, err)
		}
	}
	return country, err
}

// listOptString reads a low-cardinality string, interned; null is "".
func (d *PageDecoder) listOptString() (string, error) {
	s := &d.scan
	switch t := s.peekType(); t {
	case jsonNull:
		s.skip()
		return "", nil
	case jsonString:
		b := s.str(&d.sbuf)
		if len(b) == 0 {
			return "", nil
		}
		return d.listIntern(b), nil
	default:
		s.skip()
		return "", fmt.Errorf("is %s, not a string", t)
	}
}

func (d *PageDecoder) listOptBool() (bool, error) {
	s := &d.scan
	t := s.peekType()
	s.skip()
	switch t {
	case jsonTrue:
		return true, nil
	case jsonFalse, jsonNull:
		return false, nil
	}
	return false, fmt.Errorf("is %s, not a boolean", t)
}

// listOptTime reads a timestamp; null, "" or a missing field mean "never".
func (d *PageDecoder) listOptTime() (int64, bool, error) {
	s := &d.scan
	switch t := s.peekType(); t {
	case jsonNull:
		s.skip()
		return 0, false, nil
	case jsonString:
		b := s.str(&d.sbuf)
		if len(b) == 0 {
			return 0, false, nil
		}
		sec, err := ParseTimestamp(b)
		if err != nil {
			return 0, false, err
		}
		return sec, true, nil
	default:
		s.skip()
		return 0, false, fmt.Errorf("is %s, not a string", t)
	}
}
