package waf

import (
	"strconv"
	"strings"
	"testing"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
)

// FuzzRequestFeeding sends arbitrary requests (method, target, headers,
// body) through the CRS at paranoia level 4, with response inspection: a
// request that trips a rule's parser or transformation must be answered or
// passed, never crash the gateway.
func FuzzRequestFeeding(f *testing.F) {
	for _, s := range [][4]string{
		{"GET", "/?id=1%27%20OR%201=1--", "Accept: */*", ""},
		{"POST", "/form", "Content-Type: application/x-www-form-urlencoded", "a=b&c=%zz&%00=1"},
		{"POST", "/json", "Content-Type: application/json", `{"a":[1,{"b":"<script>"}],"c":`},
		{"POST", "/xml", "Content-Type: text/xml", "<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><a>&x;</a>"},
		{"POST", "/up", "Content-Type: multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.php\"\r\n\r\n<?php ?>\r\n--b--"},
		{"PUT", "//a/../%2e%2e/%u0041?x[]=1&x[a]=2", "Cookie: a=b; c=\"d\nRange: bytes=0-,1-2,3-4", "\xff\xfe"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	cfg := map[string]any{"crs": map[string]any{"enabled": true, "paranoiaLevel": 4},
		"responseBody": map[string]any{"inspect": true}, "logMatches": false}
	r := plugintest.Build(f, "waf", cfg, nil)
	f.Fuzz(func(t *testing.T, method, target, headers, body string) {
		clear(r.Slots[:])
		c := plugintest.New()
		c.MethodV, c.RawURI = method, target
		c.PathV, c.QueryV, _ = strings.Cut(target, "?")
		for _, l := range strings.Split(headers, "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok {
				c.ReqHeader.Add(k, strings.TrimSpace(v))
			}
		}
		if body != "" {
			c.BodyV, c.BodyBuffered, c.Length = []byte(body), true, int64(len(body))
			c.ReqHeader.Set("Content-Length", strconv.Itoa(len(body)))
		}
		if r.Request(c) == plugin.Continue {
			c.StatusV = 200
			c.RespHeader.Set("Content-Type", "text/html")
			r.Response(c)
			var sink strings.Builder
			if bw, ok := r.Body(c, &sink); ok {
				_, _ = bw.Write([]byte(body))
				_ = bw.Close()
			}
		} else {
			r.Response(c)
			if c.StatusV < 400 && c.StatusV/100 != 3 {
				t.Fatalf("refused with status %d", c.StatusV)
			}
		}
		r.Log(c, &plugin.Outcome{Status: c.StatusV})
	})
}
