package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/verifier/plugin"
)

// Exit codes of the CLI.
const (
	exitOK     = 0 // the subject passed verification
	exitFailed = 1 // the subject failed verification
	exitError  = 2 // no verdict: bad input, configuration, or an unreachable registry
)

// verificationFailedError is returned by commands whose subject was verified
// and failed: the run worked, the answer is "no".
// reason, when set, says why in a way the printed result does not (a
// subject with nothing attached has no report to read it from).
type verificationFailedError struct{ subject, reason string }

func (e *verificationFailedError) Error() string {
	if e.reason != "" {
		return e.subject + " failed verification: " + e.reason
	}
	return e.subject + " failed verification"
}

// hints maps each kind of error to what the user can do about it. It is the
// one place where errors become advice.
var hints = []struct {
	err  error
	hint string
}{
	{plugin.ErrFailed, "the external verifier plugin failed, not the registry: check the plugin, its output and its logs"},
	{errdef.ErrInvalidReference, "give an image reference such as registry.example/repo:tag or registry.example/repo@sha256:<digest>"},
	{errdef.ErrInvalidConfig, "fix the configuration: config.json or the command's flags (see README.md)"},
	{errdef.ErrNotFound, "check the repository, tag or digest"},
	{errdef.ErrUnauthorized, "log in with `docker login` or configure store.plugins[0].authProvider"},
	{errdef.ErrTimeout, "the registry or revocation servers were too slow; raise --timeout"},
	{errdef.ErrRegistryUnavailable, "check the registry address, the network, and plain HTTP (useHttp in config.json; --plain-http without one)"},
	{errdef.ErrTrustMaterialUnavailable, "trust material could not be read (a key vault or the Sigstore TUF repository down or refusing); nothing it holds is trusted until it answers"},
	{errdef.ErrSizeExceedsLimit, "the registry served more than ratify accepts; the artifact may be malicious"},
	{errdef.ErrInvalidContent, "the registry served malformed content"},
	{context.Canceled, "interrupted"},
}

// describe renders an error in one line with a hint; errors joined from
// several causes (errors.Join puts each on its own line) are separated by
// "; ".
func describe(err error) string {
	msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ; ")), " ")
	msg = strings.ReplaceAll(msg, " ; ", "; ")
	for _, h := range hints {
		if errors.Is(err, h.err) {
			return fmt.Sprintf("%s (%s)", msg, h.hint)
		}
	}
	return msg
}
