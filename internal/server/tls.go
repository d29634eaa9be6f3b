package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/limitedfile"
)

// Names of the serving certificate and key in the certificate directory,
// as a Kubernetes TLS secret mounts them.
const (
	certFile = "tls.crt"
	keyFile  = "tls.key"
)

// fileStamp identifies a version of a file: a rewrite or a symlink swap
// (how Kubernetes updates a mounted secret) changes it.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stamp(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.ModTime(), fi.Size()}, nil
}

// tlsFiles serves the certificate and key of a directory and, for mutual
// TLS, the client CA of a file, reading them again whenever they change on
// disk. A change that does not parse (a half-written rotation) is logged
// and the last good material keeps serving.
type tlsFiles struct {
	dir    string
	caFile string
	log    *slog.Logger

	mu       sync.Mutex
	cert     *tls.Certificate
	certAt   [2]fileStamp
	clientCA *x509.CertPool
	caAt     fileStamp
}

// newTLSConfig returns a TLS 1.3 server configuration whose certificate
// (and client CA, when caFile is set) follow the files on disk.
func newTLSConfig(dir, caFile string, log *slog.Logger) (*tls.Config, error) {
	f := &tlsFiles{dir: dir, caFile: caFile, log: log}
	if _, err := f.certificate(); err != nil {
		return nil, err
	}
	base := &tls.Config{MinVersion: tls.VersionTLS13, GetCertificate: f.getCertificate}
	if caFile == "" {
		return base, nil
	}
	if _, err := f.clientPool(); err != nil {
		return nil, err
	}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		pool, err := f.clientPool()
		if err != nil {
			return nil, err
		}
		c := base.Clone()
		c.GetConfigForClient = nil
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.ClientCAs = pool
		return c, nil
	}
	return base, nil
}

func (f *tlsFiles) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return f.certificate()
}

// certificate returns the serving certificate, reloaded if its files changed.
func (f *tlsFiles) certificate() (*tls.Certificate, error) {
	certPath, keyPath := filepath.Join(f.dir, certFile), filepath.Join(f.dir, keyFile)
	cs, errC := stamp(certPath)
	ks, errK := stamp(keyPath)
	f.mu.Lock()
	defer f.mu.Unlock()
	if errC == nil && errK == nil && f.cert != nil && f.certAt == [2]fileStamp{cs, ks} {
		return f.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		if f.cert != nil {
			f.log.Warn("TLS certificate changed on disk but does not load; serving the previous one", "dir", f.dir, "error", err)
			return f.cert, nil
		}
		return nil, fmt.Errorf("TLS certificate in %s: %v: %w", f.dir, err, errdef.ErrInvalidConfig)
	}
	if f.cert != nil {
		f.log.Info("TLS certificate reloaded", "dir", f.dir)
	}
	f.cert, f.certAt = &cert, [2]fileStamp{cs, ks}
	return f.cert, nil
}

// maxClientCASize bounds the client CA file, as a registry's CA bundle is
// bounded (a bundle of every public root is a few hundred KiB).
const maxClientCASize = 4 << 20

// clientPool returns the pool of client CAs, reloaded if the file changed.
func (f *tlsFiles) clientPool() (*x509.CertPool, error) {
	s, errS := stamp(f.caFile)
	f.mu.Lock()
	defer f.mu.Unlock()
	if errS == nil && f.clientCA != nil && f.caAt == s {
		return f.clientCA, nil
	}
	data, err := limitedfile.Read(f.caFile, maxClientCASize)
	pool := x509.NewCertPool()
	if err == nil && !pool.AppendCertsFromPEM(data) {
		err = fmt.Errorf("%s holds no PEM certificate", f.caFile)
	}
	if err != nil {
		if f.clientCA != nil {
			f.log.Warn("client CA changed on disk but does not load; using the previous one", "file", f.caFile, "error", err)
			return f.clientCA, nil
		}
		return nil, fmt.Errorf("client CA: %w: %w", err, errdef.ErrInvalidConfig)
	}
	f.clientCA, f.caAt = pool, s
	return pool, nil
}
