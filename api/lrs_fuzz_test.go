package api

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// FuzzMultipartReader feeds arbitrary bodies to the multipart statements
// reader. It must never panic, must answer every rejection with 400 or
// 413, and every payload it accepts must match its hash and stay within
// the size limit.
func FuzzMultipartReader(f *testing.F) {
	const boundary = "xyz"
	part := func(headers, body string) string {
		return "--" + boundary + "\r\n" + headers + "\r\n\r\n" + body + "\r\n"
	}
	f.Add([]byte(part("Content-Type: application/json", `{"a":1}`) + part("Content-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\nX-Experience-API-Hash: "+
		"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", "hello") + "--" + boundary + "--"))
	f.Add([]byte(part("Content-Type: application/json", `[]`) + "--" + boundary + "--"))
	f.Add([]byte("--" + boundary + "--"))
	f.Add([]byte(part("Content-Type: text/plain", "x")))
	f.Add([]byte(part("Content-Type: application/json", "{}") + part("X-Experience-API-Hash: zz\r\nContent-Transfer-Encoding: binary", "y")))
	f.Fuzz(func(t *testing.T, body []byte) {
		const limit = 64
		statements, parts, err := parseMultipart(bytes.NewReader(body), boundary, limit)
		if err != nil {
			var re *requestError
			var tooBig *http.MaxBytesError
			if !errors.As(err, &re) && !errors.As(err, &tooBig) {
				t.Fatalf("error of an unexpected kind %T: %v", err, err)
			}
			if re != nil && re.status != http.StatusBadRequest && re.status != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d", re.status)
			}
			return
		}
		if statements == nil {
			t.Fatal("accepted without statements")
		}
		for hash, p := range parts {
			if int64(len(p.content)) > limit {
				t.Fatalf("payload of %d bytes over the limit", len(p.content))
			}
			h := newSHA2(len(hash))
			h.Write(p.content)
			if got := strings.ToLower(string(hexOf(h.Sum(nil)))); got != hash {
				t.Fatalf("payload hash %s, keyed %s", got, hash)
			}
		}
	})
}

func hexOf(b []byte) []byte {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return out
}
