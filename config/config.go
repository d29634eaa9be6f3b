// Package config reads Ratify v1's config.json into validated, typed
// configuration and builds the engine from it.
//
// The file has the top-level sections store, policy, verifier, executor,
// crl and logger. Decoding is strict: an unknown or mistyped field is an
// error naming its JSON path, so a typo never silently weakens verification.
package config

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/limitedfile"
)

// FileName is the name of the configuration file inside the config directory.
const FileName = "config.json"

// maxFileBytes bounds config.json; real files are a few kilobytes.
const maxFileBytes = 4 << 20

// Config is the whole of config.json.
type Config struct {
	Store    StoreSection    `json:"store"`
	Policy   PolicySection   `json:"policy"`
	Verifier VerifierSection `json:"verifier"`
	Executor ExecutorSection `json:"executor"`
	CRL      CRLSection      `json:"crl"`
	Logger   LoggerSection   `json:"logger"`
	// KeyManagementProviders is a ratify extension: key management
	// providers for the CLI and config.json (see KeyProviders).
	KeyManagementProviders KeyProviders `json:"keyManagementProviders"`

	// Dir is the directory of the file the config was read from; relative
	// paths in the config (certificate directories) are resolved against it.
	Dir string `json:"-"`
	// Digest is the SHA-256 of the file's content, to tell a changed file
	// from a rewritten one.
	Digest string `json:"-"`
	// DeferKeyReferences is set when the configuration was composed with
	// Parts.DeferKeyReferences: references to undeclared key management
	// providers fail verifications instead of the configuration.
	DeferKeyReferences bool `json:"-"`
}

// DefaultPath returns where the configuration is read from when no path is
// given: $RATIFY_CONFIG/config.json (RATIFY_CONFIG names the directory, as in
// Ratify v1; a path to a .json file is accepted too), else ~/.ratify/config.json.
func DefaultPath() (string, error) {
	if dir := os.Getenv("RATIFY_CONFIG"); dir != "" {
		if strings.HasSuffix(dir, ".json") {
			return dir, nil
		}
		return filepath.Join(dir, FileName), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no config given and no home directory to find ~/.ratify/%s: %w", FileName, errdef.ErrInvalidConfig)
	}
	return filepath.Join(home, ".ratify", FileName), nil
}

// Load reads, decodes and validates the configuration file at path (or at
// DefaultPath when path is empty).
func Load(path string) (*Config, error) {
	if path == "" {
		var err error
		if path, err = DefaultPath(); err != nil {
			return nil, err
		}
	}
	data, err := limitedfile.Read(path, maxFileBytes)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("config file %s does not exist (give one with -c or RATIFY_CONFIG): %w: %w", path, errdef.ErrInvalidConfig, fs.ErrNotExist)
	case err != nil:
		return nil, fmt.Errorf("read config: %w: %w", err, errdef.ErrInvalidConfig)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	cfg.Digest = fmt.Sprintf("%x", sha256.Sum256(data))
	if abs, err := filepath.Abs(filepath.Dir(path)); err == nil {
		cfg.Dir = abs
	}
	return cfg, nil
}

// Parse decodes and validates config.json content.
func Parse(data []byte) (*Config, error) {
	var cfg Config
	if err := decodeStrict(data, &cfg); err != nil {
		return nil, err
	}
	if err := cfg.Verifier.decode(); err != nil {
		return nil, err
	}
	if err := cfg.KeyManagementProviders.decode(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// Validate checks the configuration as a whole; each error names the JSON
// path of the value at fault and wraps errdef.ErrInvalidConfig.
func (c *Config) Validate() error {
	return errors.Join(
		c.Store.validate(),
		c.Policy.validate(),
		c.Verifier.validate(),
		c.Executor.validate(),
		c.Logger.validate(),
		c.checkKeyReferences(),
	)
}

func invalid(path, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", path, fmt.Sprintf(format, args...), errdef.ErrInvalidConfig)
}
