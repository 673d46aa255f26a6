package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/ehrsim/ehrsim/mockehr/authz"
	"github.com/ehrsim/ehrsim/mockehr/store"
)

// Config is ehrsim's configuration. Each value comes from, in order of
// precedence: a command-line flag, an EHRSIM_* environment variable, the
// TOML file named by --config, the default.
type Config struct {
	Listen      string // host:port to listen on
	DebugListen string // loopback host:port for the pprof handlers; "" = off
	BaseURL     string // public origin; every absolute URL derives from it
	DataDir     string // database, keys; created if missing
	// DatabaseURL (postgres://…) puts the shared state in PostgreSQL, so
	// several instances can serve one sandbox; "" keeps it in SQLite in
	// DataDir.
	DatabaseURL   string
	Fixtures      string // directory of user FHIR data (Bundles / NDJSON)
	FixturesMode  string // add (default): user data plus the demo set; replace: user data only
	ReferenceDate string // YYYY-MM-DD the demo data's dates are laid relative to; default today
	LogLevel      string // debug | info | warn | error
	LogFormat     string // text | json
	StrictClients bool   // only registered clients may authorize
	// AllowPrivateJWKS lets client JWKS URLs point at loopback and private
	// addresses even when ehrsim listens beyond loopback (link-local and
	// metadata addresses are always refused).
	AllowPrivateJWKS bool
	// FHIRCacheMB bounds the memory of imported FHIR resources kept
	// decoded; the rest stays in the database.
	FHIRCacheMB int
	// InspectorLaunches is how many recent launches the launch inspector
	// keeps (events of older ones are dropped); 0 switches it off.
	InspectorLaunches int
	ConfigFile        string

	// FHIRUpstream, when set, is the FHIR R4 base ehrsim proxies /fhir and
	// /sim/{scenario}/fhir to (mockehr/upstream), instead of its own data.
	FHIRUpstream string
	// FHIRUpstreamHeaders ("Name: value") go with every upstream request,
	// e.g. its own Authorization; never logged or shown.
	FHIRUpstreamHeaders []string
	FHIRUpstreamTimeout time.Duration
	FHIRUpstreamMaxBody int64

	// SMART holds the [smart] table of the TOML file: any field of the SMART
	// discovery document (see README); zero fields keep their defaults.
	SMART authz.DiscoveryConfig
}

// option describes one setting: its flag, env var and TOML key are derived
// from the name ("base-url" → --base-url, EHRSIM_BASE_URL, base_url).
type option struct {
	name, def, usage string
	dst              *string
}

func (o option) env() string {
	return "EHRSIM_" + strings.ToUpper(strings.ReplaceAll(o.name, "-", "_"))
}
func (o option) tomlKey() string { return strings.ReplaceAll(o.name, "-", "_") }

// ConfigError lists every configuration problem found; it makes ehrsim exit 2.
type ConfigError struct{ Problems []string }

func (e *ConfigError) Error() string {
	return "invalid configuration:\n  - " + strings.Join(e.Problems, "\n  - ")
}

// IsUsage reports whether err is a configuration or usage error (exit code 2).
func IsUsage(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce) || errors.Is(err, flag.ErrHelp)
}

func defaultDataDir(getenv func(string) string) string {
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "ehrsim")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "ehrsim")
	}
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "ehrsim")
	}
	return ".ehrsim-data"
}

// LoadConfig reads flags from args, then the environment, then the TOML file,
// and validates the result. usage receives the flag help on -h.
func LoadConfig(args []string, getenv func(string) string, usage io.Writer) (Config, error) {
	var (
		c           Config
		strict      string
		privateJWKS string
		cacheMB     string
		inspectorN  string
		upTimeout   string
		upMaxBody   string
		upHeaders   headerList
	)
	opts := []option{
		{"listen", "localhost:8080", "address to listen on (host:port; port 0 picks a free one)", &c.Listen},
		{"debug-listen", "", "loopback address for Go's pprof profiling handlers (off by default)", &c.DebugListen},
		{"base-url", "", "public base URL (default http://<listen address>); set it behind a proxy", &c.BaseURL},
		{"data-dir", defaultDataDir(getenv), "directory for the database and keys (created if missing)", &c.DataDir},
		{"database-url", "", "PostgreSQL URL (postgres://user:password@host:5432/db) shared by several ehrsim instances (default: SQLite in --data-dir)", &c.DatabaseURL},
		{"fixtures", "", "directory of FHIR R4 Bundles / NDJSON to load", &c.Fixtures},
		{"fixtures-mode", "add", "add: load --fixtures beside the demo data; replace: instead of it", &c.FixturesMode},
		{"reference-date", "", "date (YYYY-MM-DD) demo data is laid relative to (default today)", &c.ReferenceDate},
		{"log-level", "info", "debug | info | warn | error", &c.LogLevel},
		{"log-format", "text", "text | json", &c.LogFormat},
		{"strict-clients", "false", "only registered clients may authorize (default: sandbox mode)", &strict},
		{"inspector-launches", "1000", "how many recent launches the launch inspector keeps (0: no inspector)", &inspectorN},
		{"allow-private-jwks", "false", "fetch client JWKS URLs on loopback and private addresses even when listening beyond loopback", &privateJWKS},
		{"fhir-cache-mb", "128", "memory for imported FHIR resources kept decoded, in MB (the rest stays in the database)", &cacheMB},
		{"fhir-upstream", "", "FHIR R4 base URL to serve /fhir from instead of the built-in data (bring your own FHIR server)", &c.FHIRUpstream},
		{"fhir-upstream-timeout", "30s", "how long one upstream FHIR exchange may take (then 504)", &upTimeout},
		{"fhir-upstream-max-body", "16MiB", "largest upstream FHIR answer accepted (then 502), in bytes or with KiB/MiB/GiB", &upMaxBody},
		{"config", "", "TOML configuration file", &c.ConfigFile},
	}
	fs := flag.NewFlagSet("ehrsim", flag.ContinueOnError)
	fs.SetOutput(usage)
	flagVals := map[string]*string{}
	for _, o := range opts {
		flagVals[o.name] = fs.String(o.name, o.def, o.usage)
	}
	fs.Var(&upHeaders, "fhir-upstream-header", `header sent with every upstream FHIR request, "Name: value" (repeatable; never logged)`)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, &ConfigError{Problems: []string{err.Error()}}
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	// The config file's own location: flag, then env.
	c.ConfigFile = *flagVals["config"]
	if !set["config"] {
		c.ConfigFile = getenv("EHRSIM_CONFIG")
	}
	fileVals := map[string]string{}
	var fileHeaders []string
	if c.ConfigFile != "" {
		raw := map[string]toml.Primitive{}
		md, err := toml.DecodeFile(c.ConfigFile, &raw)
		if err != nil {
			problems = append(problems, fmt.Sprintf("--config %s: %v", c.ConfigFile, err))
		} else {
			known := map[string]bool{"smart": true, "fhir_upstream_header": true}
			for _, o := range opts {
				known[o.tomlKey()] = true
			}
			keys := make([]string, 0, len(raw))
			for k := range raw {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if !known[k] {
					problems = append(problems, fmt.Sprintf("--config %s: unknown key %q", c.ConfigFile, k))
					continue
				}
				if k == "fhir_upstream_header" {
					var one string
					var many []string
					if md.PrimitiveDecode(raw[k], &one) == nil {
						fileHeaders = []string{one}
					} else if err := md.PrimitiveDecode(raw[k], &many); err == nil {
						fileHeaders = many
					} else {
						problems = append(problems, fmt.Sprintf("--config %s: fhir_upstream_header must be a string or an array of strings", c.ConfigFile))
					}
					continue
				}
				if k == "smart" {
					if err := md.PrimitiveDecode(raw[k], &c.SMART); err != nil {
						problems = append(problems, fmt.Sprintf("--config %s: [smart]: %v", c.ConfigFile, err))
					}
					continue
				}
				var v any
				if err := md.PrimitiveDecode(raw[k], &v); err != nil {
					problems = append(problems, fmt.Sprintf("--config %s: %s: %v", c.ConfigFile, k, err))
					continue
				}
				fileVals[k] = fmt.Sprint(v)
			}
			// Keys of [smart] that match no discovery field are typos.
			for _, k := range md.Undecoded() {
				if len(k) == 2 && k[0] == "smart" {
					problems = append(problems, fmt.Sprintf("--config %s: [smart]: unknown key %q", c.ConfigFile, k[1]))
				}
			}
		}
	}
	for _, o := range opts {
		if o.name == "config" {
			continue
		}
		switch {
		case set[o.name]:
			*o.dst = *flagVals[o.name]
		case getenv(o.env()) != "":
			*o.dst = getenv(o.env())
		case fileVals[o.tomlKey()] != "":
			*o.dst = fileVals[o.tomlKey()]
		default:
			*o.dst = o.def
		}
	}
	b, err := strconv.ParseBool(strict)
	if err != nil {
		problems = append(problems, fmt.Sprintf("--strict-clients: %q is not true or false", strict))
	}
	c.StrictClients = b
	if n, err := strconv.Atoi(inspectorN); err != nil || n < 0 || n > 1_000_000 {
		problems = append(problems, fmt.Sprintf("--inspector-launches: %q is not a number from 0 (off) to 1000000", inspectorN))
	} else {
		c.InspectorLaunches = n
	}
	if c.AllowPrivateJWKS, err = strconv.ParseBool(privateJWKS); err != nil {
		problems = append(problems, fmt.Sprintf("--allow-private-jwks: %q is not true or false", privateJWKS))
	}
	if n, err := strconv.Atoi(cacheMB); err != nil || n < 1 || n > 1<<20 {
		problems = append(problems, fmt.Sprintf("--fhir-cache-mb: %q is not a number from 1 to 1048576", cacheMB))
	} else {
		c.FHIRCacheMB = n
	}
	switch {
	case set["fhir-upstream-header"]:
		c.FHIRUpstreamHeaders = upHeaders
	case getenv("EHRSIM_FHIR_UPSTREAM_HEADER") != "":
		c.FHIRUpstreamHeaders = strings.Split(strings.TrimSpace(getenv("EHRSIM_FHIR_UPSTREAM_HEADER")), "\n")
	default:
		c.FHIRUpstreamHeaders = fileHeaders
	}
	if d, err := time.ParseDuration(upTimeout); err != nil || d <= 0 {
		problems = append(problems, fmt.Sprintf("--fhir-upstream-timeout: %q is not a positive duration like 30s", upTimeout))
	} else {
		c.FHIRUpstreamTimeout = d
	}
	if n, ok := parseSize(upMaxBody); !ok {
		problems = append(problems, fmt.Sprintf("--fhir-upstream-max-body: %q is not a size like 16MiB or 1048576", upMaxBody))
	} else {
		c.FHIRUpstreamMaxBody = n
	}
	problems = append(problems, c.validate()...)
	if len(problems) > 0 {
		return c, &ConfigError{Problems: problems}
	}
	return c, nil
}

// validate returns every problem with the config, naming the flag.
func (c *Config) validate() []string {
	var p []string
	if msg := validateDebugListen(c.DebugListen); msg != "" {
		p = append(p, msg)
	}
	if host, port, err := net.SplitHostPort(c.Listen); err != nil {
		p = append(p, fmt.Sprintf("--listen: %q is not host:port (%v)", c.Listen, err))
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p = append(p, fmt.Sprintf("--listen: port %q is not a number from 0 to 65535", port))
	} else {
		_ = host
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		switch {
		case err != nil:
			p = append(p, fmt.Sprintf("--base-url: %v", err))
		case u.Scheme != "http" && u.Scheme != "https":
			p = append(p, fmt.Sprintf("--base-url: %q must start with http:// or https://", c.BaseURL))
		case u.Host == "":
			p = append(p, fmt.Sprintf("--base-url: %q has no host", c.BaseURL))
		case u.RawQuery != "" || u.Fragment != "":
			p = append(p, fmt.Sprintf("--base-url: %q must not have a query or fragment", c.BaseURL))
		}
	}
	if c.DatabaseURL != "" {
		if err := store.CheckDatabaseURL(c.DatabaseURL); err != nil {
			p = append(p, "--database-url: "+err.Error())
		}
	}
	if strings.TrimSpace(c.DataDir) == "" {
		p = append(p, "--data-dir: must not be empty")
	} else if fi, err := os.Stat(c.DataDir); err == nil && !fi.IsDir() {
		p = append(p, fmt.Sprintf("--data-dir: %s exists and is not a directory", c.DataDir))
	}
	if c.Fixtures != "" {
		if fi, err := os.Stat(c.Fixtures); err != nil || !fi.IsDir() {
			p = append(p, fmt.Sprintf("--fixtures: %s is not a readable directory", c.Fixtures))
		}
	}
	if c.FixturesMode != "add" && c.FixturesMode != "replace" {
		p = append(p, fmt.Sprintf("--fixtures-mode: %q is not add or replace", c.FixturesMode))
	} else if c.FixturesMode == "replace" && c.Fixtures == "" {
		p = append(p, "--fixtures-mode: replace needs --fixtures")
	}
	if c.ReferenceDate != "" {
		if _, err := time.Parse(time.DateOnly, c.ReferenceDate); err != nil {
			p = append(p, fmt.Sprintf("--reference-date: %q is not YYYY-MM-DD", c.ReferenceDate))
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		p = append(p, fmt.Sprintf("--log-level: %q is not debug, info, warn or error", c.LogLevel))
	}
	p = append(p, c.validateUpstream()...)
	if c.LogFormat != "text" && c.LogFormat != "json" {
		p = append(p, fmt.Sprintf("--log-format: %q is not text or json", c.LogFormat))
	}
	return p
}

// RefDate is the reference date for demo data.
func (c *Config) RefDate(now time.Time) time.Time {
	if t, err := time.Parse(time.DateOnly, c.ReferenceDate); err == nil {
		return t
	}
	y, m, d := now.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// headerList is the repeatable --fhir-upstream-header flag.
type headerList []string

func (h *headerList) String() string { return "" } // values are credentials: never printed
func (h *headerList) Set(v string) error {
	*h = append(*h, v)
	return nil
}

// parseSize reads a byte count: 1048576, 512KiB, 16MiB, 1GiB.
func parseSize(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(v), u.n
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, false
	}
	return n * mult, true
}

// validateUpstream checks the upstream settings. A header is named by its
// position only: its value is a credential.
func (c *Config) validateUpstream() []string {
	var p []string
	if c.FHIRUpstream != "" {
		u, err := url.Parse(c.FHIRUpstream)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
			p = append(p, "--fhir-upstream: must be an http:// or https:// FHIR base URL, e.g. http://localhost:8090/fhir")
		case u.RawQuery != "" || u.Fragment != "":
			p = append(p, "--fhir-upstream: must not have a query or fragment")
		}
	}
	for i, h := range c.FHIRUpstreamHeaders {
		name, _, ok := strings.Cut(h, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") || strings.ContainsAny(h, "\r\n") {
			p = append(p, fmt.Sprintf(`--fhir-upstream-header: header %d is not "Name: value" (its value is not shown: it may be a credential)`, i+1))
		}
	}
	if len(c.FHIRUpstreamHeaders) > 0 && c.FHIRUpstream == "" {
		p = append(p, "--fhir-upstream-header: needs --fhir-upstream")
	}
	if c.FHIRUpstream != "" && c.Fixtures != "" {
		p = append(p, "--fixtures: cannot be used with --fhir-upstream (the data comes from the upstream)")
	}
	return p
}

// UpstreamHeader is FHIRUpstreamHeaders as an http.Header.
func (c *Config) UpstreamHeader() http.Header {
	h := http.Header{}
	for _, kv := range c.FHIRUpstreamHeaders {
		name, value, _ := strings.Cut(kv, ":")
		h.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	return h
}
