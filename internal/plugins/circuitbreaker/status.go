package circuitbreaker

import (
	"fmt"
	"strconv"
)

// statusSet is a set of HTTP status codes 100..999 as a bitmap, so checking
// an outcome is one shift and mask.
type statusSet [16]uint64

func (s *statusSet) add(code int) { s[code>>6] |= 1 << (code & 63) }

func (s *statusSet) has(code int) bool {
	if code < 0 || code >= 1024 {
		return false
	}
	return s[code>>6]&(1<<(code&63)) != 0
}

// parseStatus reads "502" or a class "5xx" into the codes it stands for.
func parseStatus(s string) (statusSet, error) {
	var set statusSet
	if len(s) == 3 && (s[1] == 'x' || s[1] == 'X') && (s[2] == 'x' || s[2] == 'X') {
		if s[0] < '1' || s[0] > '5' {
			return set, fmt.Errorf("status class must be 1xx to 5xx (got %q)", s)
		}
		base := int(s[0]-'0') * 100
		for c := base; c < base+100; c++ {
			set.add(c)
		}
		return set, nil
	}
	code, err := strconv.Atoi(s)
	if err != nil || len(s) != 3 || code < 100 || code > 599 {
		return set, fmt.Errorf("must be a status code 100 to 599 or a class like \"5xx\" (got %q)", s)
	}
	set.add(code)
	return set, nil
}

func parseStatuses(list []string) (statusSet, error) {
	var all statusSet
	for _, s := range list {
		one, err := parseStatus(s)
		if err != nil {
			return all, err
		}
		for i := range all {
			all[i] |= one[i]
		}
	}
	return all, nil
}

// Transport failures as bits.
const (
	failConnect uint8 = 1 << iota
	failTimeout
	failReset
	failNoEndpoint
)

func failureBit(f string) uint8 {
	switch f {
	case "connect":
		return failConnect
	case "timeout":
		return failTimeout
	case "reset":
		return failReset
	case "no-endpoint":
		return failNoEndpoint
	}
	return 0
}
