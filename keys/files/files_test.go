package files

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/limitedfile"
	"github.com/openratify/ratify/internal/testfiles"
)

// TestPathsBounded: a path (or a file in a directory) that is not a regular
// file, or is larger than maxFileSize, is refused rather than read.
func TestPathsBounded(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	withPipe := filepath.Join(dir, "with-pipe")
	if err := os.Mkdir(withPipe, 0o700); err != nil {
		t.Fatal(err)
	}
	fifo := testfiles.Pipe(t, withPipe, "fifo.pem")
	big := testfiles.Sized(t, dir, "big.pem", maxFileSize+1)
	for _, tc := range []struct {
		name string
		path string
		err  error
	}{
		{"a key file", key, nil},
		{"a pipe", fifo, limitedfile.ErrNotRegular},
		{"a directory holding a pipe", withPipe, limitedfile.ErrNotRegular},
		{"over the limit", big, errdef.ErrSizeExceedsLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(Config{Paths: []string{tc.path}})
			if err != nil {
				t.Fatal(err)
			}
			m, err := p.Material(context.Background())
			if tc.err == nil {
				if err != nil || len(m.Keys) != 1 {
					t.Fatalf("Material = %d keys, %v; want 1", len(m.Keys), err)
				}
				return
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("Material: %v, want %v", err, tc.err)
			}
		})
	}
}
