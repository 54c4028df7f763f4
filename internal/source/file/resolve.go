package file

import (
	"path/filepath"

	"pylon.io/pylon/internal/ir"
)

// resolver reads the PEM files an object references (certFile, keyFile,
// caFile), relative to the config file's directory, into the inline fields,
// so the object's hash covers their content and a changed certificate file
// changes the object.
type resolver struct {
	dir  string
	read func(string) ([]byte, error)
}

// resolve fills r's inline PEM fields and returns the paths it read (or
// tried to read: a missing file is watched so its creation is noticed).
func (rs *resolver) resolve(r ir.Resource) (refs []string, errs []*ir.FieldError) {
	pem := func(inline *string, path, inlineField, fileField string) {
		if path == "" {
			return
		}
		if *inline != "" {
			errs = append(errs, fieldErr(r.ResourceKind(), r.ResourceName(), inlineField, "set %s or %s, not both", inlineField, fileField))
			return
		}
		p := path
		if !filepath.IsAbs(p) {
			p = filepath.Join(rs.dir, p)
		}
		refs = append(refs, p)
		b, err := rs.read(p)
		if err != nil {
			errs = append(errs, fieldErr(r.ResourceKind(), r.ResourceName(), fileField, "%v", err))
			return
		}
		*inline = string(b)
	}
	switch r := r.(type) {
	case *ir.Certificate:
		pem(&r.Cert, r.CertFile, "cert", "certFile")
		pem(&r.Key, r.KeyFile, "key", "keyFile")
		if a := r.ClientAuth; a != nil {
			pem(&a.CA, a.CAFile, "clientAuth.ca", "clientAuth.caFile")
		}
	case *ir.Service:
		if t := r.TLS; t != nil {
			if t.CA == "" && t.CAFile != "" {
				pem(&t.CA, t.CAFile, "tls.ca", "tls.caFile")
				// ir.Service.Validate rejects ca and caFile together, and the
				// compile stage validates again, so the path goes once its
				// content is inline. The hash still covers the content.
				if t.CA != "" {
					t.CAFile = ""
				}
			}
			pem(&t.Cert, t.CertFile, "tls.cert", "tls.certFile")
			pem(&t.Key, t.KeyFile, "tls.key", "tls.keyFile")
		}
	}
	return refs, errs
}
