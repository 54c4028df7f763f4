package ir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// New returns an empty resource of kind, or nil for an unknown kind.
func New(kind Kind) Resource {
	switch kind {
	case KindListener:
		return &Listener{}
	case KindRoute:
		return &Route{}
	case KindService:
		return &Service{}
	case KindCertificate:
		return &Certificate{}
	case KindGlobalPlugin:
		return &GlobalPlugin{}
	case KindHostPolicy:
		return &HostPolicy{}
	case KindConsumer:
		return &Consumer{}
	case KindDiscoveryProvider:
		return &DiscoveryProvider{}
	}
	return nil
}

// KindByPlural maps the plural used in URLs and CLI commands ("routes") to
// its kind.
func KindByPlural(plural string) (Kind, bool) {
	for _, k := range Kinds {
		if k.Plural() == plural {
			return k, true
		}
	}
	return "", false
}

// DecodeJSON decodes one object of kind strictly: unknown fields, wrong
// types and trailing data are errors naming the field. It does not run
// Validate.
func DecodeJSON(kind Kind, data []byte) (Resource, error) {
	r := New(kind)
	if r == nil {
		return nil, fmt.Errorf("unknown kind %q", kind)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(r); err != nil {
		return nil, jsonError(kind, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &FieldError{Kind: kind, Msg: "unexpected data after the object"}
	}
	return r, nil
}

// jsonError turns encoding/json's errors into field errors.
func jsonError(kind Kind, err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return &FieldError{Kind: kind, Field: te.Field, Msg: fmt.Sprintf("must be %s, not %s", te.Type, te.Value)}
	case errors.As(err, &se):
		return &FieldError{Kind: kind, Msg: fmt.Sprintf("malformed JSON at offset %d: %v", se.Offset, se)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return &FieldError{Kind: kind, Field: strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), Msg: "unknown field"}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &FieldError{Kind: kind, Msg: "empty or truncated JSON"}
	}
	return &FieldError{Kind: kind, Msg: err.Error()}
}
