package basicauth

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// hash is one user's stored password hash.
type hash struct {
	scheme string // "bcrypt", "sha1" or "apr1"
	value  string // the hash as stored
}

// parseHtpasswd reads an htpasswd file: one user:hash per line, blank lines
// and # comments ignored. Supported hashes: bcrypt ($2y$, $2a$, $2b$),
// Apache MD5 ($apr1$) and {SHA}. crypt(3) DES and plain text are refused.
// Errors name the line and user, never the hash.
func parseHtpasswd(text string) (map[string]hash, error) {
	users := map[string]hash{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, h, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("line %d: want user:hash", i+1)
		}
		if _, dup := users[user]; dup {
			return nil, fmt.Errorf("line %d: user %q listed twice", i+1, user)
		}
		var scheme string
		switch {
		case strings.HasPrefix(h, "$2y$"), strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"):
			if _, err := bcrypt.Cost([]byte(normalizeBcrypt(h))); err != nil {
				return nil, fmt.Errorf("line %d: user %q: malformed bcrypt hash", i+1, user)
			}
			scheme = "bcrypt"
		case strings.HasPrefix(h, "$apr1$"):
			if _, _, ok := splitApr1(h); !ok {
				return nil, fmt.Errorf("line %d: user %q: malformed $apr1$ hash", i+1, user)
			}
			scheme = "apr1"
		case strings.HasPrefix(h, "{SHA}"):
			if b, err := base64.StdEncoding.DecodeString(h[5:]); err != nil || len(b) != sha1.Size {
				return nil, fmt.Errorf("line %d: user %q: malformed {SHA} hash", i+1, user)
			}
			scheme = "sha1"
		default:
			return nil, fmt.Errorf("line %d: user %q: unsupported hash (use bcrypt: htpasswd -B)", i+1, user)
		}
		users[user] = hash{scheme: scheme, value: h}
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("no users")
	}
	return users, nil
}

// normalizeBcrypt maps Apache's $2y$ prefix to $2a$: the algorithm is the
// same, only the name differs.
func normalizeBcrypt(h string) string {
	if strings.HasPrefix(h, "$2y$") {
		return "$2a$" + h[4:]
	}
	return h
}

// check reports whether password matches h.
func (h hash) check(password string) bool {
	switch h.scheme {
	case "bcrypt":
		return bcrypt.CompareHashAndPassword([]byte(normalizeBcrypt(h.value)), []byte(password)) == nil
	case "sha1":
		sum := sha1.Sum([]byte(password))
		want := "{SHA}" + base64.StdEncoding.EncodeToString(sum[:])
		return subtle.ConstantTimeCompare([]byte(want), []byte(h.value)) == 1
	case "apr1":
		salt, _, _ := splitApr1(h.value)
		return subtle.ConstantTimeCompare([]byte(apr1(password, salt)), []byte(h.value)) == 1
	}
	return false
}

// splitApr1 splits "$apr1$salt$digest".
func splitApr1(h string) (salt, digest string, ok bool) {
	rest := strings.TrimPrefix(h, "$apr1$")
	salt, digest, ok = strings.Cut(rest, "$")
	return salt, digest, ok && salt != "" && len(salt) <= 8 && len(digest) == 22
}

const itoa64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// apr1 computes Apache's MD5-based password hash ("$apr1$salt$digest"),
// the md5crypt construction with the "$apr1$" magic.
func apr1(password, salt string) string {
	const magic = "$apr1$"
	pw, s := []byte(password), []byte(salt)
	alt := md5.Sum(append(append(append([]byte{}, pw...), s...), pw...))
	ctx := md5.New()
	ctx.Write(pw)
	ctx.Write([]byte(magic))
	ctx.Write(s)
	for n := len(pw); n > 0; n -= 16 {
		ctx.Write(alt[:min(n, 16)])
	}
	for n := len(pw); n > 0; n >>= 1 {
		if n&1 != 0 {
			ctx.Write([]byte{0})
		} else {
			ctx.Write(pw[:1])
		}
	}
	final := ctx.Sum(nil)
	for i := 0; i < 1000; i++ {
		c := md5.New()
		if i&1 != 0 {
			c.Write(pw)
		} else {
			c.Write(final)
		}
		if i%3 != 0 {
			c.Write(s)
		}
		if i%7 != 0 {
			c.Write(pw)
		}
		if i&1 != 0 {
			c.Write(final)
		} else {
			c.Write(pw)
		}
		final = c.Sum(nil)
	}
	var out strings.Builder
	out.WriteString(magic + salt + "$")
	enc := func(a, b, c byte, n int) {
		v := uint(a)<<16 | uint(b)<<8 | uint(c)
		for ; n > 0; n-- {
			out.WriteByte(itoa64[v&0x3f])
			v >>= 6
		}
	}
	enc(final[0], final[6], final[12], 4)
	enc(final[1], final[7], final[13], 4)
	enc(final[2], final[8], final[14], 4)
	enc(final[3], final[9], final[15], 4)
	enc(final[4], final[10], final[5], 4)
	enc(0, 0, final[11], 2)
	return out.String()
}
