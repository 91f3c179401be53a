package safeconsole

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonScanner is a validating, non-allocating JSON reader for the list
// answer, the one hot path of a scrape: a page of 500 users is about half a
// megabyte, of which the exporter keeps a few fields per drive. A general
// parser builds a tree of every value (and fastjson's Visit allocates a
// closure per object) only for most of it to be dropped; this reader walks
// the bytes once, keeps what the decoder asks for and skips the rest.
//
// Skipping still validates: the grammar is RFC 8259 exactly as
// encoding/json accepts it (the same nesting limit, escapes, number syntax,
// no trailing data), so a malformed answer is rejected wherever the fault
// lies. Errors are sticky: after the first one every read returns at once,
// so callers check err once per loop rather than after every call.
type jsonScanner struct {
	b     []byte
	i     int
	depth int
	err   error
	stack []byte // skipContainer's open brackets, reused
}

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

// jsonType names a value's type the way error messages spell it.
type jsonType uint8

const (
	jsonInvalid jsonType = iota
	jsonNull
	jsonTrue
	jsonFalse
	jsonNumber
	jsonString
	jsonObject
	jsonArray
)

func (t jsonType) String() string {
	switch t {
	case jsonNull:
		return "null"
	case jsonTrue:
		return "true"
	case jsonFalse:
		return "false"
	case jsonNumber:
		return "number"
	case jsonString:
		return "string"
	case jsonObject:
		return "object"
	case jsonArray:
		return "array"
	}
	return "invalid"
}

func (s *jsonScanner) reset(b []byte) {
	s.b, s.i, s.depth, s.err = b, 0, 0, nil
}

// fail records the first syntax error and moves to the end of the input, so
// that every later read stops at once.
func (s *jsonScanner) fail(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf("%s at offset %d", fmt.Sprintf(format, args...), s.i)
	}
	s.i = len(s.b)
}

func (s *jsonScanner) unexpected(what string) {
	if s.i >= len(s.b) {
		s.fail("unexpected end of input, expecting %s", what)
		return
	}
	s.fail("invalid character %s, expecting %s", quoteByte(s.b[s.i]), what)
}

func quoteByte(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	return strconv.QuoteRune(rune(c))
}

// ws skips whitespace and returns the next byte, 0 at the end.
func (s *jsonScanner) ws() byte {
	if s.i < len(s.b) && s.b[s.i] > ' ' {
		return s.b[s.i] // compact JSON: nothing to skip
	}
	return s.wsSlow()
}

func (s *jsonScanner) wsSlow() byte {
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c > ' ' {
			return c
		}
		if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
			return c
		}
		s.i++
	}
	return 0
}

// peekType returns the type of the value that starts at the next
// non-blank byte without consuming it.
func (s *jsonScanner) peekType() jsonType {
	switch s.ws() {
	case '{':
		return jsonObject
	case '[':
		return jsonArray
	case '"':
		return jsonString
	case 't':
		return jsonTrue
	case 'f':
		return jsonFalse
	case 'n':
		return jsonNull
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return jsonNumber
	}
	return jsonInvalid
}

// Object and array walking. A loop over an object reads
//
//	for ok := s.enterObject(); ok; ok = s.nextMember() { key := s.key(); ... value ... }
//
// and the same with enterArray/nextElement; each value must be consumed
// (read or skipped) before the next call.

func (s *jsonScanner) enter(open, close byte) bool {
	if s.ws() != open {
		s.unexpected(string(open))
		return false
	}
	s.i++
	s.depth++
	if s.depth > maxJSONDepth {
		s.fail("exceeded max depth")
		return false
	}
	if s.ws() == close {
		s.i++
		s.depth--
		return false
	}
	return s.err == nil
}

func (s *jsonScanner) next(close byte, what string) bool {
	switch s.ws() {
	case ',':
		s.i++
		return s.err == nil
	case close:
		s.i++
		s.depth--
		return false
	}
	s.unexpected(what)
	return false
}

func (s *jsonScanner) enterObject() bool { return s.enter('{', '}') }
func (s *jsonScanner) nextMember() bool  { return s.next('}', "',' or '}' after object member") }
func (s *jsonScanner) enterArray() bool  { return s.enter('[', ']') }
func (s *jsonScanner) nextElement() bool { return s.next(']', "',' or ']' after array element") }

// key reads a member name and its colon. The name aliases the input unless
// it holds escapes, in which case it is decoded into buf.
func (s *jsonScanner) key(buf *[]byte) []byte {
	if s.ws() != '"' {
		s.unexpected("'\"' beginning an object key")
		return nil
	}
	start := s.i + 1
	end, esc := s.stringEnd(start)
	if end < 0 {
		return nil
	}
	s.i = end + 1
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		if s.ws() != ':' {
			s.unexpected("':' after object key")
			return nil
		}
	}
	s.i++
	if esc {
		*buf = unescapeJSON((*buf)[:0], s.b[start:end])
		return *buf
	}
	return s.b[start:end]
}

// str reads a string value; like key, it aliases the input or buf.
func (s *jsonScanner) str(buf *[]byte) []byte {
	raw, esc := s.rawString()
	if esc {
		*buf = unescapeJSON((*buf)[:0], raw)
		return *buf
	}
	return raw
}

const (
	swarOnes  = 0x0101010101010101
	swarHighs = 0x8080808080808080
)

// rawString reads a string at the next byte (which must be '"') and
// returns its contents as written, and whether it holds escapes.
func (s *jsonScanner) rawString() (raw []byte, escaped bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		s.unexpected("string")
		return nil, false
	}
	start := s.i + 1
	end, escaped := s.stringEnd(start)
	if end < 0 {
		return nil, false
	}
	s.i = end + 1
	return s.b[start:end], escaped
}

// stringEnd returns the index of the quote that closes the string whose
// contents start at j, validating escapes and refusing control
// characters; -1 after a syntax error.
func (s *jsonScanner) stringEnd(j int) (end int, escaped bool) {
	b := s.b
	for {
		// Eight bytes at a time: the classic SWAR tests for "has a zero
		// byte" (applied to the word xor'ed with '"' and with '\\') and
		// "has a byte below n". Each mask's lowest set bit marks its first
		// match exactly, so the lowest bit of their union is the first
		// byte that needs a look.
		if j+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[j:])
			quote := w ^ (swarOnes * '"')
			bslash := w ^ (swarOnes * '\\')
			special := (((quote - swarOnes) &^ quote) | ((bslash - swarOnes) &^ bslash) | ((w - swarOnes*0x20) &^ w)) & swarHighs
			if special == 0 {
				j += 8
				continue
			}
			j += bits.TrailingZeros64(special) >> 3
		} else {
			for j < len(b) && b[j] != '"' && b[j] != '\\' && b[j] >= 0x20 {
				j++
			}
			if j >= len(b) {
				s.i = j
				s.fail("unexpected end of input in string")
				return -1, false
			}
		}
		switch c := b[j]; {
		case c == '"':
			return j, escaped
		case c == '\\':
			escaped = true
			if j+1 >= len(b) {
				s.i = j + 1
				s.fail("unexpected end of input in string escape")
				return -1, false
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(b) {
					s.i = len(b)
					s.fail("unexpected end of input in \\u escape")
					return -1, false
				}
				for k := j + 2; k < j+6; k++ {
					if !isHex(b[k]) {
						s.i = k
						s.fail("invalid character %s in \\u hexadecimal character escape", quoteByte(b[k]))
						return -1, false
					}
				}
				j += 6
			default:
				s.i = j + 1
				s.fail("invalid character %s in string escape code", quoteByte(b[j+1]))
				return -1, false
			}
		case c < 0x20:
			s.i = j
			s.fail("invalid character %s in string literal", quoteByte(c))
			return -1, false
		}
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hexValue(b []byte) rune {
	var r rune
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// unescapeJSON appends the decoded form of raw, a string's contents already
// validated by rawString, to dst. Like encoding/json, a lone UTF-16
// surrogate becomes U+FFFD.
func unescapeJSON(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hexValue(raw[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					r2 = hexValue(raw[i+2 : i+6])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, raw[i+1])
		}
		i += 2
	}
	return dst
}

// number reads a number and returns it as written; whole is false when it
// has a fraction or an exponent.
func (s *jsonScanner) number() (raw []byte, whole bool) {
	b := s.b
	start := s.i
	j := s.i
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && b[j] >= '1' && b[j] <= '9':
		for j++; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		}
	default:
		s.i = j
		s.unexpected("digit in numeric literal")
		return nil, false
	}
	whole = true
	if j < len(b) && b[j] == '.' {
		whole = false
		j++
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			s.i = j
			s.unexpected("digit after decimal point in numeric literal")
			return nil, false
		}
		for j++; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		whole = false
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			s.i = j
			s.unexpected("digit in exponent of numeric literal")
			return nil, false
		}
		for j++; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		}
	}
	s.i = j
	return b[start:j], whole
}

// literal consumes true, false or null.
func (s *jsonScanner) literal(word string) {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return
	}
	// Point at the first byte that differs, as encoding/json does.
	for k := 0; k < len(word); k++ {
		if s.i+k >= len(s.b) || s.b[s.i+k] != word[k] {
			s.i += k
			s.unexpected("literal " + word)
			return
		}
	}
}

// skip validates and consumes one value of any type.
func (s *jsonScanner) skip() {
	switch s.ws() {
	case '{', '[':
		s.skipContainer()
	case '"':
		if end, _ := s.stringEnd(s.i + 1); end >= 0 {
			s.i = end + 1
		}
	case 't':
		s.literal("true")
	case 'f':
		s.literal("false")
	case 'n':
		s.literal("null")
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		s.number()
	default:
		s.unexpected("value")
	}
}

func (s *jsonScanner) keepStack(stack *[]byte) { s.stack = (*stack)[:0] }

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

// skipContainer validates and consumes the object or array at s.i. Most of
// a list answer is skipped here (fields the exporter does not use), so it
// is one loop with an explicit stack rather than a call per value.
func (s *jsonScanner) skipContainer() {
	b := s.b
	i := s.i
	stack := s.stack[:0]
	defer s.keepStack(&stack)
	var c byte
value:
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if i >= len(b) {
		s.i = i
		s.unexpected("value")
		return
	}
	switch c = b[i]; c {
	case '{', '[':
		if s.depth+len(stack) >= maxJSONDepth {
			s.i = i
			s.fail("exceeded max depth")
			return
		}
		stack = append(stack, c)
		i++
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i < len(b) && b[i] == c+2 { // '{'+2 == '}', '['+2 == ']'
			i++
			stack = stack[:len(stack)-1]
			goto after
		}
		if c == '{' {
			goto key
		}
		goto value
	case '"':
		end, _ := s.stringEnd(i + 1)
		if end < 0 {
			return
		}
		i = end + 1
		goto after
	case 't', 'f', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		s.i = i
		switch c {
		case 't':
			s.literal("true")
		case 'f':
			s.literal("false")
		case 'n':
			s.literal("null")
		default:
			s.number()
		}
		if s.err != nil {
			return
		}
		i = s.i
		goto after
	default:
		s.i = i
		s.unexpected("value")
		return
	}
key:
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if i >= len(b) || b[i] != '"' {
		s.i = i
		s.unexpected("'\"' beginning an object key")
		return
	}
	if end, _ := s.stringEnd(i + 1); end < 0 {
		return
	} else {
		i = end + 1
	}
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if i >= len(b) || b[i] != ':' {
		s.i = i
		s.unexpected("':' after object key")
		return
	}
	i++
	goto value
after:
	if len(stack) == 0 {
		s.i = i
		return
	}
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if i < len(b) {
		top := stack[len(stack)-1]
		switch b[i] {
		case ',':
			i++
			if top == '{' {
				goto key
			}
			goto value
		case top + 2:
			i++
			stack = stack[:len(stack)-1]
			goto after
		}
		s.i = i
		if top == '{' {
			s.unexpected("',' or '}' after object member")
		} else {
			s.unexpected("',' or ']' after array element")
		}
		return
	}
	s.i = i
	s.unexpected("',' or closing bracket")
}

// end checks that only whitespace follows the top-level value.
func (s *jsonScanner) end() {
	if s.ws() != 0 || s.i < len(s.b) {
		s.unexpected("end of input after top-level value")
	}
}

// parseWholeInt reads a whole number as written by number(); ok is false
// for a fraction, an exponent or a value outside int64, which encoding/json
// also refuses for an int64 field.
func parseWholeInt(raw []byte, whole bool) (int64, bool) {
	if !whole {
		return 0, false
	}
	neg := raw[0] == '-'
	if neg {
		raw = raw[1:]
	}
	if len(raw) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range raw {
		n = n*10 + uint64(c-'0')
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		return -int64(n), true
	}
	if n > 1<<63-1 {
		return 0, false
	}
	return int64(n), true
}
