package annotations

import (
	"net/netip"
	"time"

	"pylon.io/pylon/internal/ir"
)

// Config is the parsed form of an Ingress's annotations. Zero values mean
// "not set"; the translator applies ingress-nginx's defaults where they
// differ from Pylon's.
type Config struct {
	Canary Canary

	RewriteTarget string // may hold $1…$9 capture references
	UseRegex      bool
	UpstreamVhost string // Host header sent upstream
	AppRoot       string // "/" redirects here
	ServerAliases []string
	FromToWWW     bool

	SSLRedirect      *bool // nil: on when the Ingress has TLS, as in ingress-nginx
	ForceSSLRedirect bool
	Redirect         *Redirect // permanent-redirect or temporal-redirect

	CORS *CORS

	Retry          Retry
	ConnectTimeout time.Duration
	ReadTimeout    time.Duration
	SendTimeout    time.Duration
	BodySize       *int64 // proxy-body-size in bytes; 0 is unlimited

	BackendProtocol string // HTTP (default), HTTPS, GRPC, GRPCS or H2C
	LoadBalance     string // round_robin, ewma or least_conn
	HashBy          *HashBy
	Affinity        *Affinity

	AllowSourceRanges []netip.Prefix
	DenySourceRanges  []netip.Prefix

	BasicAuth *BasicAuth
	AuthTLS   *AuthTLS // nil: no client certificate verification
	ProxySSL  ProxySSL

	LimitRPS         int
	LimitRPM         int
	LimitConnections int
	// LimitBurstMultiplier sizes the rate limits' burst (default 5).
	LimitBurstMultiplier int

	DefaultBackend   string // a Service in the Ingress's namespace
	CustomHTTPErrors []int

	AccessLog *bool // enable-access-log; nil: the gateway's setting

	WAF *WAF // the ModSecurity annotations; nil: none

	// TagHeader is tag-header: the request header holding the request's
	// tag for full-link gray (ir.Route.TagHeader).
	TagHeader string
	// TagFallback is tag-fallback (ir.Service.TagFallback).
	TagFallback bool
	// ZoneAware is zone-aware (ir.Service.ZoneAware); nil: not set.
	ZoneAware *ir.ZoneAware

	p pending
}

// Canary is a canary Ingress's traffic selection. Header and cookie rules
// are checked first; Weight applies to the rest.
type Canary struct {
	Enabled         bool
	ByHeader        string
	ByHeaderValue   string
	ByHeaderPattern string // RE2, matched against the whole value
	ByCookie        string
	Weight          int
	WeightSet       bool
	WeightTotal     int // default 100
}

// Redirect is permanent-redirect (Code 301 by default) or temporal-redirect
// (302).
type Redirect struct {
	Annotation string // which annotation set it, for notes
	URL        string
	Code       int
}

// CORS is enable-cors with its options, defaults filled as in ingress-nginx.
type CORS struct {
	AllowOrigins     []string
	AllowMethods     []string
	AllowHeaders     []string
	ExposeHeaders    []string
	AllowCredentials bool
	MaxAge           int // seconds
}

// Retry holds the proxy-next-upstream family.
type Retry struct {
	On            []string // error, timeout, invalid_header, http_NNN, non_idempotent, off
	Tries         int      // total tries, 0 unset
	Timeout       time.Duration
	NonIdempotent bool
	Off           bool
	Statuses      []int
	Set           bool // proxy-next-upstream was given
}

// HashBy is upstream-hash-by: one of the fields is set.
type HashBy struct {
	Header   string
	Cookie   string
	ClientIP bool
	Path     bool // $request_uri or $uri
}

// Affinity is cookie-based session affinity.
type Affinity struct {
	CookieName string
	Path       string
	MaxAge     time.Duration
	Expires    time.Duration
}

// BasicAuth is auth-type basic with its Secret and realm.
type BasicAuth struct {
	Secret     SecretRef
	SecretType string // auth-file (one htpasswd file under key "auth") or auth-map (user → hash)
	Realm      string
}

// SecretRef names a Secret; Namespace is empty for the Ingress's own.
type SecretRef struct {
	Namespace string
	Name      string
}

// AuthTLS is the auth-tls-* family: client certificate verification on the
// Ingress's TLS hosts.
type AuthTLS struct {
	Secret SecretRef // holds ca.crt
	// Optional: a certificate is verified if sent but not required
	// (auth-tls-verify-client optional or optional_no_ca).
	Optional bool
	// Depth bounds the verified chain above the client's certificate
	// (auth-tls-verify-depth, default 1 as in ingress-nginx).
	Depth int
	// PassCert sends the client's certificate to the upstream.
	PassCert bool
	// MatchCN is a regular expression the verified certificate's subject
	// DN must match (auth-tls-match-cn).
	MatchCN string
}

// ProxySSL is the proxy-ssl-* family: TLS toward the upstream.
type ProxySSL struct {
	Secret     *SecretRef
	Verify     *bool
	Name       string
	ServerName *bool
}

// pending holds options that only count together with another annotation
// (cors-* with enable-cors, session-cookie-* with affinity, auth-* with
// auth-type); finish folds them in.
type pending struct {
	authTLSSecret *SecretRef
	authTLSVerify string
	authTLSDepth  int
	authTLSPass   bool
	authTLSCN     string

	permanentCode int
	corsEnabled   bool
	cors          CORS
	corsSet       []string
	affinity      string
	cookie        Affinity
	authType      string
	authSecret    *SecretRef
	authRealm     string
	authSecretTyp string
	allowlist     []netip.Prefix
}
