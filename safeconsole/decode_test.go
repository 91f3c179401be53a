package safeconsole

import (
	"strings"
	"testing"
	"time"
)

// seedPage is the vendor article's example answer, completed into valid
// JSON, plus fields the exporter does not know.
const seedPage = `{
  "total": 1,
  "success": true,
  "response": [
    {
      "last_ip": "",
      "ou": 1,
      "last_login": "2020-08-31T19:58:14Z",
      "acquired_date": "2020-08-31T19:58:14Z",
      "isUpdated": false,
      "cn": "",
      "hasPolicy": false,
      "policyId": 1,
      "policyType": "OU",
      "safesticks": [
        {
          "owner": "",
          "safeStickStatus": "DISABLED",
          "lastUsed": "2020-08-31T19:58:14Z",
          "serialBarcode": "BBBBBBBBBBBBBBB",
          "hasRecoveryCode": false,
          "serial": "BBBBBBBBBBBBBBB",
          "hardwareID": "BBBBBBBB",
          "lastIP": "",
          "isUpdated": true,
          "isOnline": false,
          "version": "1.4.2",
          "model": {"name": "SafeStick", "capacityGB": 32, "tags": [1, "x", null]},
          "geolocation": {"date": "2020-08-31T19:58:14Z", "ip_end": "000000007F000001", "country": "Atlantic Ocean"}
        }
      ],
      "id": 1,
      "email": "",
      "geolocation": {"date": "2020-08-31T19:58:14Z", "ip_end": "000000007F000001", "country": "Atlantic Ocean"},
      "futureField": [{"deep": {"deeper": [true]}}]
    }
  ]
}`

func TestDecodeSeedShape(t *testing.T) {
	var p Page
	if err := NewPageDecoder(false).Decode([]byte(seedPage), &p); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if p.Total != 1 || len(p.Users) != 1 || len(p.Devices) != 1 {
		t.Fatalf("page = %+v", p)
	}
	want := Device{User: 0, Serial: "BBBBBBBBBBBBBBB", Status: "DISABLED", Version: "1.4.2", Country: "Atlantic Ocean",
		Updated: true, LastUsed: time.Date(2020, 8, 31, 19, 58, 14, 0, time.UTC).Unix(), Used: true}
	if p.Devices[0] != want {
		t.Errorf("device = %+v\nwant     %+v", p.Devices[0], want)
	}
	if u := p.Users[0]; u != (User{ID: 1, OU: 1, HasOU: true, Country: "Atlantic Ocean"}) {
		t.Errorf("user = %+v", u)
	}
}

func TestDecodeOptionalFields(t *testing.T) {
	body := `{"success":true,"total":3,"response":[
	  {"id":1},
	  {"id":2,"ou":null,"geolocation":null,"safesticks":null},
	  {"id":3,"ou":4,"geolocation":{"country":"Sweden"},"safesticks":[
	    {"serial":"A1","lastUsed":null,"version":null,"safeStickStatus":null,"isOnline":null,"geolocation":null},
	    {"serial":"A2","lastUsed":"","version":"","geolocation":{"country":""},"owner":"bob@example.com"},
	    {"serial":"A3","lastUsed":"2024-02-29T23:59:59+01:00","isOnline":true}
	  ]}]}`
	var p Page
	if err := NewPageDecoder(false).Decode([]byte(body), &p); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if len(p.Users) != 3 || p.Users[0].HasOU || p.Users[1].HasOU || !p.Users[2].HasOU || p.Users[2].Country != "Sweden" {
		t.Errorf("users = %+v", p.Users)
	}
	if len(p.Devices) != 3 {
		t.Fatalf("devices = %+v", p.Devices)
	}
	for _, d := range p.Devices[:2] {
		if d.Used || d.Version != "" || d.Status != "" || d.Online || d.Country != "" || d.Owner != "" || d.User != 2 {
			t.Errorf("device %s = %+v, want empty optional fields", d.Serial, d)
		}
	}
	if d := p.Devices[2]; !d.Used || d.LastUsed != time.Date(2024, 2, 29, 22, 59, 59, 0, time.UTC).Unix() || !d.Online {
		t.Errorf("device A3 = %+v", d)
	}

	// The owner's e-mail is kept only when asked for.
	if err := NewPageDecoder(true).Decode([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	if p.Devices[1].Owner != "bob@example.com" {
		t.Errorf("owner not kept when asked for: %+v", p.Devices[1])
	}
}

func TestDecodeRejectsWrongTypes(t *testing.T) {
	for name, tc := range map[string]struct{ body, says string }{
		"not an object":     {`[]`, "not a JSON object"},
		"no success":        {`{"total":0,"response":[]}`, `no "success"`},
		"success string":    {`{"success":"yes","total":0}`, `"success" is string`},
		"no total":          {`{"success":true,"response":[]}`, `no "total"`},
		"negative total":    {`{"success":true,"total":-1}`, "out of range"},
		"fraction total":    {`{"success":true,"total":1.5}`, "not a whole number"},
		"huge total":        {`{"success":true,"total":99999999999999999999}`, "not a whole number"},
		"response object":   {`{"success":true,"total":1,"response":{}}`, "not a list"},
		"entry string":      {`{"success":true,"total":1,"response":["x"]}`, "not an object"},
		"no id":             {`{"success":true,"total":1,"response":[{"ou":1}]}`, `no "id"`},
		"id string":         {`{"success":true,"total":1,"response":[{"id":"1"}]}`, `"id": is string`},
		"ou bool":           {`{"success":true,"total":1,"response":[{"id":1,"ou":true}]}`, `"ou": is true`},
		"sticks object":     {`{"success":true,"total":1,"response":[{"id":1,"safesticks":{}}]}`, `"safesticks" is object`},
		"stick number":      {`{"success":true,"total":1,"response":[{"id":1,"safesticks":[7]}]}`, "not an object"},
		"no serial":         {`{"success":true,"total":1,"response":[{"id":1,"safesticks":[{}]}]}`, `no "serial"`},
		"serial number":     {`{"success":true,"total":1,"response":[{"id":1,"safesticks":[{"serial":5}]}]}`, `"serial": is number`},
		"online string":     {`{"success":true,"total":1,"response":[{"id":1,"safesticks":[{"serial":"a","isOnline":"true"}]}]}`, `"isOnline": is string`},
		"updated number":    {`{"success":true,"total":1,"response":[{"id":1,"safesticks":[{"serial":"a","isUpdated":1}]}]}`, `"isUpdated": is number`},
		"status number":     {`{"success":true,"total":1,"response":[{"id":1,"safesticks":[{"serial":"a","safeStickStatus":3}]}]}`, `"safeStickStatus": is number`},
		"lastUsed garbage":  {`{"success":true,"total":1,"response":[{"id":1,"safesticks":[{"serial":"a","lastUsed":"yesterday"}]}]}`, "not an RFC 3339 timestamp"},
		"lastUsed number":   {`{"success":true,"total":1,"response":[{"id":1,"safesticks":[{"serial":"a","lastUsed":1598903894}]}]}`, `"lastUsed": is number`},
		"geolocation array": {`{"success":true,"total":1,"response":[{"id":1,"geolocation":[]}]}`, `"geolocation" is array`},
		"country number":    {`{"success":true,"total":1,"response":[{"id":1,"geolocation":{"country":1}}]}`, `"geolocation.country"`},
		"truncated":         {`{"success":true,"total":1,"response":[{"id":1`, "malformed JSON"},
	} {
		t.Run(name, func(t *testing.T) {
			var p Page
			err := NewPageDecoder(false).Decode([]byte(tc.body), &p)
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("Decode(%s) = %v, want an error saying %q", tc.body, err, tc.says)
			}
		})
	}
}

func TestDecodeNotSuccessKeepsMessage(t *testing.T) {
	var p Page
	err := NewPageDecoder(false).Decode([]byte(`{"success":false,"message":"Unknown action"}`), &p)
	var ns *NotSuccessError
	if !errorsAs(err, &ns) || ns.Message != "Unknown action" {
		t.Fatalf("Decode = %v, want a NotSuccessError with the message", err)
	}
}

func TestDecodeInvalidUTF8BecomesValidLabels(t *testing.T) {
	body := "{\"success\":true,\"total\":1,\"response\":[{\"id\":1,\"geolocation\":{\"country\":\"Sw\xffeden\"},\"safesticks\":[{\"serial\":\"S\xfe1\",\"version\":\"6.\xff\"}]}]}"
	var p Page
	if err := NewPageDecoder(false).Decode([]byte(body), &p); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	for _, s := range []string{p.Users[0].Country, p.Devices[0].Serial, p.Devices[0].Version} {
		if !strings.Contains(s, "\uFFFD") {
			t.Errorf("%q was not made valid UTF-8", s)
		}
	}
}

func TestDecodeReusesPage(t *testing.T) {
	d := NewPageDecoder(false)
	var p Page
	if err := d.Decode([]byte(seedPage), &p); err != nil {
		t.Fatal(err)
	}
	if err := d.Decode([]byte(`{"success":true,"total":0,"response":[]}`), &p); err != nil {
		t.Fatal(err)
	}
	if p.Total != 0 || len(p.Users) != 0 || len(p.Devices) != 0 {
		t.Errorf("page not reset: %+v", p)
	}
}

func TestParseTimestamp(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2020-08-31T19:58:14Z":           time.Date(2020, 8, 31, 19, 58, 14, 0, time.UTC),
		"1970-01-01T00:00:00Z":           time.Unix(0, 0),
		"2000-02-29T12:00:00Z":           time.Date(2000, 2, 29, 12, 0, 0, 0, time.UTC),
		"2024-12-31T23:59:59Z":           time.Date(2024, 12, 31, 23, 59, 59, 0, time.UTC),
		"2020-08-31T19:58:14.999Z":       time.Date(2020, 8, 31, 19, 58, 14, 0, time.UTC),
		"2020-08-31T21:58:14+02:00":      time.Date(2020, 8, 31, 19, 58, 14, 0, time.UTC),
		"1969-12-31T23:59:59Z":           time.Unix(-1, 0),
		"2100-03-01T00:00:00Z":           time.Date(2100, 3, 1, 0, 0, 0, 0, time.UTC),
		"2026-12-04T15:44:21.123456789Z": time.Date(2026, 12, 4, 15, 44, 21, 0, time.UTC),
	} {
		got, err := ParseTimestamp([]byte(in))
		if err != nil || got != want.Unix() {
			t.Errorf("ParseTimestamp(%q) = %d, %v; want %d", in, got, err, want.Unix())
		}
	}
	for _, in := range []string{"2019-02-29T00:00:00Z", "2020-13-01T00:00:00Z", "2020-00-10T00:00:00Z", "2020-01-01T24:00:00Z",
		"2020-01-01 00:00:00", "20x0-01-01T00:00:00Z", "", "2020-01-01T00:00:60Z", "2020-04-31T00:00:00Z"} {
		if _, err := ParseTimestamp([]byte(in)); err == nil {
			t.Errorf("ParseTimestamp(%q) accepted it", in)
		}
	}
}

func TestDecodeOUs(t *testing.T) {
	ous, err := DecodeOUs([]byte(`{"success":true,"response":[{"id":1,"path":"00.default","extra":{}},{"id":8,"path":"08.zonebuild"}]}`))
	if err != nil || len(ous) != 2 || ous[1] != "00.default" || ous[8] != "08.zonebuild" {
		t.Errorf("DecodeOUs = %v, %v", ous, err)
	}
	for _, bad := range []string{`{"success":true,"response":[{"path":"x"}]}`, `{"success":true,"response":[{"id":1}]}`,
		`{"success":true,"response":[{"id":1,"path":2}]}`, `{"success":true,"response":{}}`, `{"success":false}`, `nope`} {
		if _, err := DecodeOUs([]byte(bad)); err == nil {
			t.Errorf("DecodeOUs(%s) accepted it", bad)
		}
	}
}
