package safeconsoletest

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// The list answer is written by hand into a reused buffer: encoding/json with
// reflection would cost several times more per page, and hand-writing is also
// what lets the server vary key order and the shape of absent values
// deterministically from entry to entry.

const wireTime = "2006-01-02T15:04:05Z"

// hash32 is FNV-1a; it picks per-entry rendering variants (key order, how an
// absent value is written) from data that is stable across clones.
func hash32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

func hashID(id int64) uint32 {
	x := uint64(id) * 0x9e3779b97f4a7c15
	return uint32(x >> 40)
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				const hex = "0123456789abcdef"
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	// Written by hand: time.Format was a third of the cost of a page.
	t = t.UTC()
	y, mo, d := t.Date()
	h, mi, sec := t.Clock()
	if y < 0 || y > 9999 {
		b = append(b, '"')
		b = t.AppendFormat(b, wireTime)
		return append(b, '"')
	}
	return append(b, '"',
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+int(mo)/10), byte('0'+int(mo)%10), '-', byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), 'Z', '"')
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// appendIPEnd writes SafeConsole's geolocation ip_end: the address as 16 hex
// digits ("000000007F000001" for 127.0.0.1).
func appendIPEnd(b []byte, ip string) []byte {
	var v uint64
	var part uint64
	for i := 0; i < len(ip); i++ {
		c := ip[i]
		if c == '.' {
			v = v<<8 | (part & 0xff)
			part = 0
			continue
		}
		if c >= '0' && c <= '9' {
			part = part*10 + uint64(c-'0')
		}
	}
	if ip != "" {
		v = v<<8 | (part & 0xff)
	}
	const hex = "0123456789ABCDEF"
	b = append(b, '"')
	for i := 15; i >= 0; i-- {
		b = append(b, hex[(v>>(uint(i)*4))&0xf])
	}
	return append(b, '"')
}

// obj writes object members with commas in the right places.
type obj struct {
	b     []byte
	first bool
}

func (o *obj) key(k string) {
	if !o.first {
		o.b = append(o.b, ',')
	}
	o.first = false
	o.b = append(o.b, '"')
	o.b = append(o.b, k...)
	o.b = append(o.b, '"', ':')
}

// User entry fields; u* are the seed's, ux* are fields the seed does not
// show, which a client must skip.
const (
	uLastIP = iota
	uOU
	uLastLogin
	uAcquired
	uIsUpdated
	uCN
	uHasPolicy
	uPolicyID
	uPolicyType
	uSafesticks
	uID
	uEmail
	uGeo
	uxPolicyName
	uxTags
	uxMeta
	uxRisk
)

var userOrders = [3][]int{
	{uLastIP, uOU, uLastLogin, uAcquired, uIsUpdated, uCN, uHasPolicy, uPolicyID, uPolicyType, uxMeta, uSafesticks, uID, uEmail, uGeo, uxPolicyName, uxTags, uxRisk},
	{uxPolicyName, uID, uEmail, uCN, uOU, uLastLogin, uAcquired, uLastIP, uIsUpdated, uHasPolicy, uPolicyID, uPolicyType, uGeo, uxTags, uSafesticks, uxMeta, uxRisk},
	{uID, uxTags, uSafesticks, uxRisk, uGeo, uEmail, uxMeta, uCN, uOU, uPolicyType, uPolicyID, uHasPolicy, uIsUpdated, uLastIP, uAcquired, uLastLogin, uxPolicyName},
}

const (
	dOwner = iota
	dStatus
	dLastUsed
	dBarcode
	dHasRecovery
	dSerial
	dHardwareID
	dLastIP
	dIsUpdated
	dIsOnline
	dVersion
	dGeo
	dxModel
	dxCapacity
	dxPartitions
	dxExtra
)

var deviceOrders = [3][]int{
	{dOwner, dStatus, dxModel, dLastUsed, dBarcode, dHasRecovery, dSerial, dHardwareID, dxPartitions, dLastIP, dIsUpdated, dIsOnline, dVersion, dGeo, dxCapacity, dxExtra},
	{dSerial, dxModel, dBarcode, dHardwareID, dOwner, dStatus, dIsOnline, dIsUpdated, dVersion, dLastUsed, dLastIP, dHasRecovery, dxPartitions, dGeo, dxCapacity, dxExtra},
	{dxExtra, dGeo, dVersion, dIsUpdated, dIsOnline, dxCapacity, dStatus, dLastUsed, dOwner, dHardwareID, dBarcode, dSerial, dxModel, dLastIP, dHasRecovery, dxPartitions},
}

var models = []string{"Sentry K350", "DL4 FE", "Sentry ONE", "SafeStick", "Sentry 5"}
var capacities = []string{"8", "16", "32", "64", "128", "256"}

// appendUser appends one list entry. padAt, when not nil, receives the
// offset just after the entry's opening brace (where an oversize fault
// injects its padding member).
//
// seedShape leaves out the members the vendor's example does not show.
func appendUser(b []byte, u *User, padAt *int, seedShape bool) []byte {
	h := hashID(u.ID)
	b = append(b, '{')
	if padAt != nil {
		*padAt = len(b)
	}
	o := obj{b: b, first: true}
	for _, f := range userOrders[h%3] {
		if seedShape && f >= uxPolicyName {
			continue
		}
		switch f {
		case uLastIP:
			o.key("last_ip")
			o.b = appendString(o.b, u.LastIP)
		case uOU:
			o.key("ou")
			o.b = strconv.AppendInt(o.b, u.OU, 10)
		case uLastLogin:
			o.key("last_login")
			o.b = appendTime(o.b, u.LastLogin)
		case uAcquired:
			o.key("acquired_date")
			var t time.Time
			if !u.LastLogin.IsZero() {
				t = u.LastLogin.Add(-time.Duration(h%400) * 24 * time.Hour)
			}
			o.b = appendTime(o.b, t)
		case uIsUpdated:
			o.key("isUpdated")
			upd := len(u.Devices) > 0
			for i := range u.Devices {
				upd = upd && u.Devices[i].Updated
			}
			o.b = appendBool(o.b, upd)
		case uCN:
			o.key("cn")
			o.b = appendString(o.b, u.CN)
		case uHasPolicy:
			o.key("hasPolicy")
			o.b = appendBool(o.b, h%5 == 0)
		case uPolicyID:
			o.key("policyId")
			o.b = strconv.AppendInt(o.b, int64(1+h%4), 10)
		case uPolicyType:
			o.key("policyType")
			if h%7 == 0 {
				o.b = append(o.b, `"USER"`...)
			} else {
				o.b = append(o.b, `"OU"`...)
			}
		case uSafesticks:
			o.key("safesticks")
			o.b = append(o.b, '[')
			for i := range u.Devices {
				if i > 0 {
					o.b = append(o.b, ',')
				}
				o.b = appendDevice(o.b, &u.Devices[i], seedShape)
			}
			o.b = append(o.b, ']')
		case uID:
			o.key("id")
			o.b = strconv.AppendInt(o.b, u.ID, 10)
		case uEmail:
			o.key("email")
			o.b = appendString(o.b, u.Email)
		case uGeo:
			if u.Country == "" {
				if h&8 == 0 {
					o.key("geolocation")
					o.b = append(o.b, "null"...)
				}
				continue // else: no geolocation member at all
			}
			o.key("geolocation")
			o.b = append(o.b, `{"date":`...)
			o.b = appendTime(o.b, u.LastLogin)
			o.b = append(o.b, `,"ip_end":`...)
			o.b = appendIPEnd(o.b, u.LastIP)
			o.b = append(o.b, `,"country":`...)
			o.b = appendString(o.b, u.Country)
			o.b = append(o.b, '}')
		case uxPolicyName:
			o.key("policyName")
			if h%6 == 0 {
				o.b = append(o.b, `"Strict \"travel\" policy {EU}"`...)
			} else {
				o.b = append(o.b, `"Default OU policy"`...)
			}
		case uxTags:
			o.key("tags")
			if h%4 == 0 {
				o.b = append(o.b, `[]`...)
			} else {
				o.b = append(o.b, `["usb","encrypted",{"k":"v"},[1,[2]],null]`...)
			}
		case uxMeta:
			o.key("meta")
			o.b = append(o.b, `{"source":{"type":"ldap","ids":[1,2,3],"sync":{"ok":true,"at":null}},"note":"a ] b } c \\ d","count":-12.5e-1}`...)
		case uxRisk:
			o.key("riskScore")
			o.b = strconv.AppendFloat(o.b, float64(h%1000)/1000, 'g', -1, 64)
		}
	}
	return append(o.b, '}')
}

func appendDevice(b []byte, d *Device, seedShape bool) []byte {
	h := hash32(d.Serial)
	b = append(b, '{')
	o := obj{b: b, first: true}
	for _, f := range deviceOrders[h%3] {
		if seedShape && f >= dxModel {
			continue
		}
		switch f {
		case dOwner:
			o.key("owner")
			o.b = appendString(o.b, d.Owner)
		case dStatus:
			o.key("safeStickStatus")
			if d.Status == "" && h&16 == 0 {
				o.b = append(o.b, "null"...)
			} else {
				o.b = appendString(o.b, d.Status)
			}
		case dLastUsed:
			if d.LastUsed.IsZero() {
				// Never used: absent, null or "" depending on the entry.
				switch (h >> 8) % 3 {
				case 0:
					continue
				case 1:
					o.key("lastUsed")
					o.b = append(o.b, "null"...)
				case 2:
					o.key("lastUsed")
					o.b = append(o.b, `""`...)
				}
				continue
			}
			o.key("lastUsed")
			o.b = appendTime(o.b, d.LastUsed)
		case dBarcode:
			o.key("serialBarcode")
			o.b = appendString(o.b, d.SerialBarcode)
		case dHasRecovery:
			o.key("hasRecoveryCode")
			o.b = appendBool(o.b, h&32 != 0)
		case dSerial:
			o.key("serial")
			o.b = appendString(o.b, d.Serial)
		case dHardwareID:
			o.key("hardwareID")
			o.b = appendString(o.b, d.HardwareID)
		case dLastIP:
			o.key("lastIP")
			o.b = appendString(o.b, d.LastIP)
		case dIsUpdated:
			o.key("isUpdated")
			o.b = appendBool(o.b, d.Updated)
		case dIsOnline:
			o.key("isOnline")
			o.b = appendBool(o.b, d.Online)
		case dVersion:
			o.key("version")
			if d.Version == "" && h&64 == 0 {
				o.b = append(o.b, "null"...)
			} else {
				o.b = appendString(o.b, d.Version)
			}
		case dGeo:
			if d.Country == "" {
				// No drive geolocation: absent, null, or an object without a country.
				switch (h >> 12) % 3 {
				case 0:
					continue
				case 1:
					o.key("geolocation")
					o.b = append(o.b, "null"...)
					continue
				}
			}
			o.key("geolocation")
			o.b = append(o.b, `{"date":`...)
			o.b = appendTime(o.b, d.LastUsed)
			o.b = append(o.b, `,"ip_end":`...)
			o.b = appendIPEnd(o.b, d.LastIP)
			o.b = append(o.b, `,"country":`...)
			o.b = appendString(o.b, d.Country)
			o.b = append(o.b, '}')
		case dxModel:
			o.key("model")
			o.b = appendString(o.b, models[(h>>4)%uint32(len(models))])
		case dxCapacity:
			o.key("capacityGB")
			o.b = append(o.b, capacities[(h>>16)%uint32(len(capacities))]...)
		case dxPartitions:
			o.key("partitions")
			o.b = append(o.b, `[{"label":"PRIVATE","sizeGB":15.5,"locked":true},{"label":"PUBLIC","sizeGB":5e-1,"locked":false}]`...)
		case dxExtra:
			o.key("extra")
			o.b = append(o.b, `{"notes":"brace } bracket ] quote \" slash \/ \u00e9","nested":{"deep":[[1],[2,[3]]],"empty":{},"none":null},"ok":true}`...)
		}
	}
	return append(o.b, '}')
}

// appendPage writes a list answer. padAt receives the offset inside the first
// entry where padding may go, or -1 if there is no entry.
func appendPage(b []byte, users []*User, total int, padAt *int, seedShape bool) []byte {
	b = append(b, `{"total":`...)
	b = strconv.AppendInt(b, int64(total), 10)
	b = append(b, `,"success":true,"response":[`...)
	*padAt = -1
	for i, u := range users {
		if i > 0 {
			b = append(b, ',')
			b = appendUser(b, u, nil, seedShape)
			continue
		}
		b = appendUser(b, u, padAt, seedShape)
	}
	return append(b, "]}"...)
}

func appendOUs(b []byte, ous []OU) []byte {
	b = append(b, `{"success":true,"response":[`...)
	for i, ou := range ous {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = strconv.AppendInt(b, ou.ID, 10)
		b = append(b, `,"path":`...)
		b = appendString(b, ou.Path)
		b = append(b, `,"description":{"text":"OU `...)
		b = strconv.AppendInt(b, ou.ID, 10)
		b = append(b, `","tags":[]}}`...)
	}
	return append(b, "]}"...)
}

func appendError(b []byte, msg string) []byte {
	b = append(b, `{"success":false,"message":`...)
	b = appendString(b, msg)
	return append(b, '}')
}
