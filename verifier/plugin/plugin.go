// Package plugin runs external verifiers: executables that speak Ratify
// v1's verifier plugin protocol, so that plugins written for v1 (with its
// skel package) work unchanged.
//
// The protocol, as implemented here:
//
//   - The executable is named like the verifier's type (or, without a
//     type, its name) and is looked up, by that exact file name, in the
//     plugin directories (pluginBinDirs; by default ~/.ratify/plugins),
//     never through PATH. It must be a regular, executable file that no
//     one but its owner and group can write, in a directory that is not
//     world-writable (unless sticky).
//   - It is run directly, without a shell or arguments, with the
//     environment variables RATIFY_VERIFIER_COMMAND=VERIFY,
//     RATIFY_VERIFIER_SUBJECT (the subject, registry/repository@digest)
//     and RATIFY_VERIFIER_VERSION (the verifier section's version) added to
//     ratify's own environment, as v1 does.
//   - Its standard input is one JSON object (InputConfig):
//     {"config": <the verifier entry of config.json>, "storeConfig":
//     {"version", "pluginBinDirs", "store": <the store entry>},
//     "referenceDesc": <the artifact's OCI descriptor, with artifactType>}.
//     The plugin reads the artifact itself, through the store the store
//     entry describes, as v1 plugins do.
//   - It answers on standard output with a verifier result (Result:
//     {"isSuccess", "name", "type", "message", "errorReason",
//     "remediation", "extensions"}) and exit status 0, or with an error
//     (Error: {"code", "msg", "details"}) and a non-zero exit status. Lines
//     of standard output that are not JSON are log lines, as v1 reads them;
//     standard error is logged.
//
// A plugin that cannot be run, crashes, exits non-zero, outlives its
// timeout, writes more than the output limit or writes anything but one
// result is an error (could not verify), never a pass.
package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/openratify/ratify/errdef"
)

// Environment variables of the protocol (Ratify v1's).
const (
	EnvCommand = "RATIFY_VERIFIER_COMMAND"
	EnvSubject = "RATIFY_VERIFIER_SUBJECT"
	EnvVersion = "RATIFY_VERIFIER_VERSION"
	// CommandVerify is the only command a verifier plugin is given.
	CommandVerify = "VERIFY"
)

// Defaults of Options.
const (
	// DefaultVersion is RATIFY_VERIFIER_VERSION when the configuration
	// names none: v1's verifier spec version.
	DefaultVersion = "0.1.0"
	// DefaultTimeout bounds one run of a plugin.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxOutputSize bounds what a plugin writes to standard output.
	DefaultMaxOutputSize = 1 << 20
	// DefaultMaxStderrSize bounds the standard error kept (and logged);
	// the rest is read and dropped.
	DefaultMaxStderrSize = 64 << 10
)

// Config is one verifier.plugins[] entry of config.json whose type is not
// built in: an external plugin.
type Config struct {
	// Name is the instance name reports carry; with no Type it is also
	// the executable's name.
	Name string `json:"name"`
	// Type names the executable; empty means Name.
	Type string `json:"type,omitempty"`
	// ArtifactTypes are the artifact types this verifier handles; empty
	// means every type ("*"), as in v1.
	ArtifactTypes List `json:"artifactTypes,omitempty"`
	// NestedReferences are artifact types whose referrers of a verified
	// artifact must themselves be verified.
	NestedReferences List `json:"nestedReferences,omitempty"`
	// Entry is the whole verifier entry, as written in config.json, which
	// the plugin receives as "config" (with the fields particular to it).
	// Empty means an entry of the fields above.
	Entry json.RawMessage `json:"-"`
}

// Kind is the executable's name: Type, or Name when Type is empty.
func (c *Config) Kind() string {
	if c.Type != "" {
		return c.Type
	}
	return c.Name
}

// Validate checks the configuration without looking for the executable.
// Errors wrap errdef.ErrInvalidConfig.
func (c *Config) Validate() error {
	kind := c.Kind()
	switch {
	case c.Name == "":
		return invalid("name", "every verifier needs a name")
	case kind == "." || kind == ".." || strings.ContainsAny(kind, `/\`+"\x00") || strings.TrimSpace(kind) != kind:
		return invalid("type", "%q cannot name a plugin executable (a plain file name is required)", kind)
	case len(kind) > 255:
		return invalid("type", "plugin name is longer than 255 bytes")
	}
	if len(c.Entry) > 0 {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(c.Entry, &obj); err != nil || obj == nil {
			return invalid("", "the verifier entry is not a JSON object")
		}
	}
	return nil
}

// StoreConfig is what a plugin is told of the store, to read the artifact
// through it: Ratify v1's store configuration ("storeConfig").
type StoreConfig struct {
	Version       string   `json:"version"`
	PluginBinDirs []string `json:"pluginBinDirs"`
	// Store is the store entry of config.json (store.plugins[0], such as
	// {"name": "oras", ...}).
	Store json.RawMessage `json:"store"`
}

// Options are the runtime settings of a Verifier. The zero value works for
// plugins in ~/.ratify/plugins that need no store configuration.
type Options struct {
	// PluginBinDirs are the directories searched, in order, for the
	// executable; relative ones are relative to BaseDir. Empty means
	// ~/.ratify/plugins.
	PluginBinDirs []string
	// BaseDir resolves relative PluginBinDirs.
	BaseDir string
	// Version is RATIFY_VERIFIER_VERSION; empty means DefaultVersion.
	Version string
	// Store is passed to the plugin as "storeConfig".
	Store StoreConfig
	// Timeout bounds each run; zero means DefaultTimeout. The caller's
	// context bounds it too.
	Timeout time.Duration
	// MaxOutputSize bounds standard output; zero means
	// DefaultMaxOutputSize. MaxStderrSize bounds the standard error kept;
	// zero means DefaultMaxStderrSize.
	MaxOutputSize int64
	MaxStderrSize int64
	// Environ is the environment the protocol's variables are added to;
	// nil means ratify's own (os.Environ), as in v1.
	Environ []string
	// Logger receives the plugin's log lines and standard error; nil
	// means slog.Default().
	Logger *slog.Logger
}

// Verifier runs an external verifier plugin. It is a ratify.Verifier and a
// ratify.NestedVerifier, and is safe for concurrent use.
type Verifier struct {
	name          string
	kind          string
	artifactTypes []string
	nested        []string
	path          string // the executable, symbolic links resolved
	entry         json.RawMessage
	store         StoreConfig
	version       string
	timeout       time.Duration
	maxOutput     int64
	maxStderr     int64
	environ       []string
	log           *slog.Logger
}

// New validates cfg and finds the plugin's executable. A plugin that is
// not found, or is not safe to run (world-writable, or not executable),
// is a configuration error wrapping errdef.ErrInvalidConfig.
func New(cfg Config, opts Options) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dirs, err := binDirs(opts)
	if err != nil {
		return nil, err
	}
	path, err := find(cfg.Kind(), dirs)
	if err != nil {
		return nil, err
	}
	entry := cfg.Entry
	if len(entry) == 0 {
		if entry, err = json.Marshal(map[string]any{"name": cfg.Name, "type": cfg.Type,
			"artifactTypes": strings.Join(cfg.ArtifactTypes, ","), "nestedReferences": strings.Join(cfg.NestedReferences, ",")}); err != nil {
			return nil, err
		}
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, entry); err != nil {
		return nil, invalid("", "the verifier entry is not JSON: %v", err)
	}
	v := &Verifier{
		name:          cfg.Name,
		kind:          cfg.Kind(),
		artifactTypes: slices.Clone(cfg.ArtifactTypes),
		nested:        slices.Clone(cfg.NestedReferences),
		path:          path,
		entry:         compact.Bytes(),
		store:         opts.Store,
		version:       cmpOr(opts.Version, DefaultVersion),
		timeout:       cmpOr(opts.Timeout, DefaultTimeout),
		maxOutput:     cmpOr(opts.MaxOutputSize, DefaultMaxOutputSize),
		maxStderr:     cmpOr(opts.MaxStderrSize, DefaultMaxStderrSize),
		environ:       slices.Clone(opts.Environ),
		log:           opts.Logger,
	}
	if len(v.artifactTypes) == 0 {
		v.artifactTypes = []string{"*"}
	}
	if v.store.PluginBinDirs == nil {
		v.store.PluginBinDirs = []string{}
	}
	if v.log == nil {
		v.log = slog.Default()
	}
	v.log = v.log.With("verifier", v.name, "plugin", v.path)
	return v, nil
}

// binDirs returns the absolute plugin directories of opts.
func binDirs(opts Options) ([]string, error) {
	dirs := opts.PluginBinDirs
	if len(dirs) == 0 {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, invalid("pluginBinDirs", "no plugin directory given and no home directory for ~/.ratify/plugins: %v", err)
		}
		dirs = []string{filepath.Join(home, ".ratify", "plugins")}
	}
	var out []string
	for _, d := range dirs {
		if d == "" {
			return nil, invalid("pluginBinDirs", "a plugin directory is empty")
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(opts.BaseDir, d)
		}
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, invalid("pluginBinDirs", "%v", err)
		}
		out = append(out, abs)
	}
	return out, nil
}

// Name returns the configured instance name (ratify.Verifier).
func (v *Verifier) Name() string { return v.name }

// Type returns the plugin's type: the executable's name (ratify.Verifier).
func (v *Verifier) Type() string { return v.kind }

// CanVerify reports whether artifactType is one the verifier was
// configured for; "*" matches every type, as in Ratify v1.
func (v *Verifier) CanVerify(artifactType string) bool {
	return slices.Contains(v.artifactTypes, artifactType) || slices.Contains(v.artifactTypes, "*")
}

// NestedReferences returns the artifact types to verify on a verified
// artifact itself (ratify.NestedVerifier).
func (v *Verifier) NestedReferences() []string { return slices.Clone(v.nested) }

// Path returns the executable the verifier runs.
func (v *Verifier) Path() string { return v.path }

// List is a list of strings written either as a comma-separated string
// ("a,b", as Ratify v1's artifactTypes) or as a JSON array.
type List []string

// UnmarshalJSON accepts "a, b" and ["a", "b"].
func (l *List) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		*l = nil
		for part := range strings.SplitSeq(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				*l = append(*l, part)
			}
		}
		return nil
	}
	var items []string
	if err := json.Unmarshal(data, &items); err != nil {
		return errors.New("expected a comma-separated string or an array of strings")
	}
	*l = items
	return nil
}

// invalid is a configuration error at a JSON path.
func invalid(path, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	return fmt.Errorf("%s: %w", msg, errdef.ErrInvalidConfig)
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v != zero {
		return v
	}
	return def
}
