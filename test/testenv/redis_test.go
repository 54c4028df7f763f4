package testenv

import "testing"

// StartRedis gives a working server; Kill makes it unreachable and Restart
// brings it back empty on the same address.
func TestRedisKillRestart(t *testing.T) {
	r := StartRedis(t)
	if _, err := r.Do("SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if v, err := r.Do("GET", "k"); err != nil || v != "v" {
		t.Fatalf("GET k = %q, %v", v, err)
	}
	r.Kill()
	if _, err := r.Do("PING"); err == nil {
		t.Fatal("PING answered after Kill")
	}
	r.Restart()
	if v, err := r.Do("GET", "k"); err != nil || v != "" {
		t.Fatalf("after Restart GET k = %q, %v; want empty (no persistence)", v, err)
	}
}
