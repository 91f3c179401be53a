package bench

import (
	"encoding/json"
	"fmt"
)

// The reference decoder: encoding/json into the obvious structs for the
// list answer's documented shape (the vendor's example), every documented
// field typed as it appears there. It is what a first implementation would
// write, and the yardstick the exporter's decoder is measured against.

type stdGeolocation struct {
	Date    string `json:"date"`
	IPEnd   string `json:"ip_end"`
	Country string `json:"country"`
}

type stdDevice struct {
	Serial          string          `json:"serial"`
	SerialBarcode   string          `json:"serialBarcode"`
	HardwareID      string          `json:"hardwareID"`
	Owner           string          `json:"owner"`
	SafeStickStatus string          `json:"safeStickStatus"`
	IsOnline        bool            `json:"isOnline"`
	IsUpdated       bool            `json:"isUpdated"`
	Version         string          `json:"version"`
	LastUsed        string          `json:"lastUsed"`
	LastIP          string          `json:"lastIP"`
	HasRecoveryCode bool            `json:"hasRecoveryCode"`
	Geolocation     *stdGeolocation `json:"geolocation"`
}

type stdUser struct {
	ID           int64           `json:"id"`
	Email        string          `json:"email"`
	CN           string          `json:"cn"`
	OU           *int64          `json:"ou"`
	LastLogin    string          `json:"last_login"`
	AcquiredDate string          `json:"acquired_date"`
	LastIP       string          `json:"last_ip"`
	IsUpdated    bool            `json:"isUpdated"`
	HasPolicy    bool            `json:"hasPolicy"`
	PolicyID     int64           `json:"policyId"`
	PolicyType   string          `json:"policyType"`
	Geolocation  *stdGeolocation `json:"geolocation"`
	Safesticks   []stdDevice     `json:"safesticks"`
}

type stdPage struct {
	Total    int64     `json:"total"`
	Success  bool      `json:"success"`
	Message  string    `json:"message"`
	Response []stdUser `json:"response"`
}

// decodeStd decodes one answer with encoding/json and returns the number of
// drives on it.
func decodeStd(body []byte) (int, error) {
	var p stdPage
	if err := json.Unmarshal(body, &p); err != nil {
		return 0, fmt.Errorf("encoding/json: %w", err)
	}
	n := 0
	for i := range p.Response {
		n += len(p.Response[i].Safesticks)
	}
	return n, nil
}
