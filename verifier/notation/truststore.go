package notation

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/notaryproject/notation-go/verifier/truststore"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/limitedfile"
	"github.com/openratify/ratify/keys"
)

// maxCertFileSize bounds one certificate file; a bundle of a thousand
// certificates fits in well under a megabyte.
const maxCertFileSize = 4 << 20

// trustStore is the X509TrustStore (Notary Project trust store
// specification) that notation-go reads while verifying. Certificates are
// read and parsed once, when the verifier is built.
//
// Two kinds of source are served:
//   - flat: certificate files, and directories of them (searched
//     recursively), as Ratify v1's verificationCerts. Their certificates are
//     served for every named store of every type, as Ratify v1 does; for the
//     tsa type only the self-signed roots among them, since the Notary
//     Project requires TSA trust anchors to be roots.
//   - layout: a directory laid out as Notation's truststore/x509 (ca/<name>/,
//     signingAuthority/<name>/, tsa/<name>/, or those under x509/). Each
//     named store serves exactly its own certificates.
//
// A store asked for gets the certificates of its layout directories plus
// every flat certificate.
type trustStore struct {
	typed map[truststore.Type]map[string][]*x509.Certificate
	flat  []*x509.Certificate
	extra truststore.X509TrustStore
}

// loadTrustStore reads every path of verificationCerts. A path that does
// not exist is skipped here; whether the trust policy is left without
// certificates is checked by checkTrustStores.
func loadTrustStore(paths []string, extra truststore.X509TrustStore) (*trustStore, error) {
	ts := &trustStore{typed: map[truststore.Type]map[string][]*x509.Certificate{}, extra: extra}
	for _, p := range paths {
		info, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return nil, fmt.Errorf("verificationCerts: %w: %w", err, errdef.ErrInvalidConfig)
		case !info.IsDir():
			certs, err := readCertFile(p)
			if err != nil {
				return nil, err
			}
			ts.addFlat(certs)
		default:
			if root, ok := layoutRoot(p); ok {
				err = ts.loadLayout(root)
			} else {
				err = ts.loadFlatDir(p)
			}
			if err != nil {
				return nil, err
			}
		}
	}
	return ts, nil
}

// GetCertificates implements truststore.X509TrustStore.
func (ts *trustStore) GetCertificates(ctx context.Context, typ truststore.Type, name string) ([]*x509.Certificate, error) {
	certs := append(slices.Clone(ts.typed[typ][name]), ts.flatFor(typ)...)
	if ts.extra != nil {
		more, err := ts.extra.GetCertificates(ctx, typ, name)
		if err != nil && len(certs) == 0 {
			return nil, err
		}
		certs = append(certs, more...)
	}
	if len(certs) == 0 {
		return nil, truststore.TrustStoreError{Msg: fmt.Sprintf("no certificates for trust store %s:%s in verificationCerts", typ, name)}
	}
	return certs, nil
}

// flatFor returns the flat certificates served for stores of typ.
func (ts *trustStore) flatFor(typ truststore.Type) []*x509.Certificate {
	if typ != truststore.TypeTSA {
		return ts.flat
	}
	var roots []*x509.Certificate
	for _, c := range ts.flat {
		if isRoot(c) {
			roots = append(roots, c)
		}
	}
	return roots
}

// has reports whether the store named "type:name" has certificates (or
// may have them, from the extra store, which is asked only when verifying).
func (ts *trustStore) has(typ truststore.Type, name string) bool {
	return ts.extra != nil || len(ts.typed[typ][name]) > 0 || len(ts.flatFor(typ)) > 0
}

func (ts *trustStore) addFlat(certs []*x509.Certificate) {
	for _, c := range certs {
		if !slices.ContainsFunc(ts.flat, c.Equal) {
			ts.flat = append(ts.flat, c)
		}
	}
}

// layoutRoot returns the directory holding the trust store type
// directories when dir (or dir/x509) has the Notation layout.
func layoutRoot(dir string) (string, bool) {
	for _, root := range []string{dir, filepath.Join(dir, "x509")} {
		for _, typ := range truststore.Types {
			if info, err := os.Stat(filepath.Join(root, string(typ))); err == nil && info.IsDir() {
				return root, true
			}
		}
	}
	return "", false
}

// loadLayout reads <root>/<type>/<name>/<files>, validating the
// certificates as Notation's own trust store does.
func (ts *trustStore) loadLayout(root string) error {
	entries, err := readDir(root)
	if err != nil {
		return err
	}
	for _, e := range entries {
		typ := truststore.Type(e.Name())
		if !e.IsDir() || !slices.Contains(truststore.Types, typ) {
			return fmt.Errorf("verificationCerts: %s: a Notation trust store holds only the directories ca/, signingAuthority/ and tsa/: %w",
				filepath.Join(root, e.Name()), errdef.ErrInvalidConfig)
		}
		stores, err := readDir(filepath.Join(root, e.Name()))
		if err != nil {
			return err
		}
		for _, s := range stores {
			dir := filepath.Join(root, e.Name(), s.Name())
			if !s.IsDir() {
				return fmt.Errorf("verificationCerts: %s: expected a directory named for its trust store: %w", dir, errdef.ErrInvalidConfig)
			}
			certs, err := readStoreDir(dir, typ)
			if err != nil {
				return err
			}
			if ts.typed[typ] == nil {
				ts.typed[typ] = map[string][]*x509.Certificate{}
			}
			ts.typed[typ][s.Name()] = append(ts.typed[typ][s.Name()], certs...)
		}
	}
	return nil
}

// readStoreDir reads the certificate files of one named store.
func readStoreDir(dir string, typ truststore.Type) ([]*x509.Certificate, error) {
	files, err := readDir(dir)
	if err != nil {
		return nil, err
	}
	var all []*x509.Certificate
	for _, f := range files {
		p := filepath.Join(dir, f.Name())
		if f.IsDir() {
			return nil, fmt.Errorf("verificationCerts: %s: a named trust store holds only certificate files: %w", p, errdef.ErrInvalidConfig)
		}
		certs, err := readCertFile(p)
		if err != nil {
			return nil, err
		}
		if err := truststore.ValidateCertificates(certs); err != nil {
			return nil, fmt.Errorf("verificationCerts: %s: %v: %w", p, err, errdef.ErrInvalidConfig)
		}
		for _, c := range certs {
			if typ == truststore.TypeTSA && !isRoot(c) {
				return nil, fmt.Errorf("verificationCerts: %s: %q is not a root certificate; a tsa trust store holds root certificates only: %w",
					p, c.Subject, errdef.ErrInvalidConfig)
			}
		}
		all = append(all, certs...)
	}
	return all, nil
}

// loadFlatDir reads every certificate file under dir, recursively.
func (ts *trustStore) loadFlatDir(dir string) error {
	err := keys.WalkFiles(dir, func(p string) error {
		certs, err := readCertFile(p)
		if err != nil {
			return err
		}
		ts.addFlat(certs)
		return nil
	})
	if err != nil && !errors.Is(err, errdef.ErrInvalidConfig) {
		return fmt.Errorf("verificationCerts: %w: %w", err, errdef.ErrInvalidConfig)
	}
	return err
}

// readDir lists dir without its hidden entries, following symbolic links
// to tell files from directories.
func readDir(dir string) ([]fs.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("verificationCerts: %w: %w", err, errdef.ErrInvalidConfig)
	}
	out := entries[:0]
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 {
			info, err := os.Stat(filepath.Join(dir, e.Name()))
			if err != nil {
				return nil, fmt.Errorf("verificationCerts: %w: %w", err, errdef.ErrInvalidConfig)
			}
			e = fs.FileInfoToDirEntry(info)
		}
		out = append(out, e)
	}
	return out, nil
}

// readCertFile parses a file of PEM CERTIFICATE blocks (other PEM blocks
// are skipped) or of DER certificates.
func readCertFile(path string) ([]*x509.Certificate, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("verificationCerts: %s: %s: %w", path, fmt.Sprintf(format, args...), errdef.ErrInvalidConfig)
	}
	data, err := limitedfile.Read(path, maxCertFileSize)
	if err != nil {
		return nil, fmt.Errorf("verificationCerts: %w: %w", err, errdef.ErrInvalidConfig)
	}
	if !bytes.Contains(data, []byte("-----BEGIN")) {
		certs, err := x509.ParseCertificates(data)
		if err != nil || len(certs) == 0 {
			return nil, bad("neither PEM nor DER certificates")
		}
		return certs, nil
	}
	var certs []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			if bytes.Contains(rest, []byte("-----BEGIN")) {
				return nil, bad("malformed PEM block")
			}
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, bad("certificate %d: %v", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, bad("no PEM CERTIFICATE block")
	}
	return certs, nil
}

// isRoot reports whether c is self-signed and self-issued, the test
// Notation applies to the certificates of a tsa trust store.
func isRoot(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil
}
