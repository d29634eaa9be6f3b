package k8s

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/openratify/ratify/api/v1beta1"
	"github.com/openratify/ratify/errdef"
)

// maxBrief bounds the brief error shown in the printer column, in runes.
const maxBrief = 120

// keptNote ends the error of a refused update whose previous version
// stays in use.
const keptNote = " (the previously accepted version of this resource stays in use)"

// status is what the reconciler reports in a resource's status.
type status struct {
	ok         bool
	err        string
	brief      string
	properties json.RawMessage
	now        time.Time // when it was computed: a key provider's fetch time
}

// newStatus reports out; kept says that an earlier version of the resource
// stays in use although this one was refused.
func newStatus(out outcome, kept bool, now time.Time) status {
	if !out.fetched.IsZero() {
		now = out.fetched
	}
	if out.err == nil {
		return status{ok: true, properties: out.properties, now: now}
	}
	st := status{err: out.err.Error(), brief: out.brief, now: now, properties: out.properties}
	if st.brief == "" {
		st.brief = brief(out.err)
	}
	if kept {
		st.err += keptNote
	}
	return st
}

// brief is the short form of err: its message without the config.json
// entry the resource became ("verifier.plugins[0].") nor the sentinel
// error at its end (": invalid configuration"), cut to maxBrief runes.
func brief(err error) string {
	msg := err.Error()
	for _, sentinel := range []error{errdef.ErrInvalidConfig, errdef.ErrUnsupported} {
		if errors.Is(err, sentinel) {
			msg = strings.TrimSuffix(msg, ": "+sentinel.Error())
		}
	}
	for _, entry := range []string{"verifier.plugins[", "store.plugins[", "policy.plugin", "keyManagementProviders["} {
		rest, ok := strings.CutPrefix(msg, entry)
		if !ok {
			continue
		}
		if strings.HasSuffix(entry, "[") {
			_, rest, _ = strings.Cut(rest, "]")
		}
		if strings.HasPrefix(rest, " (") { // " (name)" after the entry
			_, rest, _ = strings.Cut(rest, ")")
		}
		switch {
		case strings.HasPrefix(rest, "."):
			msg = rest[1:]
		case strings.HasPrefix(rest, ": "):
			msg = rest[2:]
		}
		break
	}
	return shorten(msg)
}

// shorten cuts s to maxBrief runes, marking the cut with "...".
func shorten(s string) string {
	if utf8.RuneCountInString(s) <= maxBrief {
		return s
	}
	r := []rune(s)
	return string(r[:maxBrief-3]) + "..."
}

// setResource writes st into the status of a Verifier, Store or Policy and
// reports whether it changed.
func (st status) setResource(s *v1beta1.ResourceStatus) bool {
	next := v1beta1.ResourceStatus{IsSuccess: st.ok, Error: st.err, BriefError: st.brief}
	if *s == next {
		return false
	}
	*s = next
	return true
}

// setKeys writes st into a key management provider's status and reports
// whether it changed. LastFetchedTime moves only when something else does,
// so that reconciling an unchanged provider writes nothing.
func (st status) setKeys(s *v1beta1.KeyManagementProviderStatus) bool {
	if s.LastFetchedTime != nil && s.IsSuccess == st.ok && s.Error == st.err &&
		s.BriefError == st.brief && jsonEqual(s.Properties.Raw, st.properties) {
		return false
	}
	t := metav1.NewTime(st.now.UTC().Truncate(time.Second))
	*s = v1beta1.KeyManagementProviderStatus{
		IsSuccess:       st.ok,
		Error:           st.err,
		BriefError:      st.brief,
		LastFetchedTime: &t,
		Properties:      runtime.RawExtension{Raw: st.properties},
	}
	return true
}

// jsonEqual reports whether a and b are the same JSON value (the API
// server may reorder object keys); empty equals empty.
func jsonEqual(a, b []byte) bool {
	a, b = bytes.TrimSpace(a), bytes.TrimSpace(b)
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(va, vb)
}
