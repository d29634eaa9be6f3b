package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify"
)

// ErrFailed is wrapped by every error of Verify: the plugin, not a
// registry, is what failed (callers tell users where to look).
var ErrFailed = errors.New("verifier plugin failed")

// failure is an error of Verify: its message, and both ErrFailed and the
// cause to errors.Is.
type failure struct{ err error }

func failed(err error) error { return &failure{err} }

func (f *failure) Error() string   { return f.err.Error() }
func (f *failure) Unwrap() []error { return []error{ErrFailed, f.err} }

// Verify runs the plugin on the artifact attached to subject
// (ratify.Verifier) and returns its verdict. The plugin reads the artifact
// itself, through the store its input describes, so content is not used.
//
// A plugin that answers isSuccess false gives a Report with IsSuccess
// false and a nil error. Every other failure is an error, never a pass:
// the executable became unsafe or cannot be started
// (errdef.ErrInvalidConfig), the plugin ran past its timeout or the
// verification's deadline and was killed (errdef.ErrTimeout), wrote more
// than the output limit (errdef.ErrSizeExceedsLimit), exited non-zero (an
// *Error when it wrote one), or wrote anything but one result
// (errdef.ErrInvalidContent).
func (v *Verifier) Verify(ctx context.Context, subject ratify.Subject, artifact ocispec.Descriptor, _ ratify.Fetcher) (ratify.Report, error) {
	input, err := json.Marshal(InputConfig{Config: v.entry, StoreConfig: v.store, ReferenceDesc: artifact})
	if err != nil {
		return ratify.Report{}, failed(fmt.Errorf("verifier plugin %s: %w", v.name, err))
	}
	out, err := v.run(ctx, subject.String(), input)
	if err != nil {
		return ratify.Report{}, failed(fmt.Errorf("verifier plugin %s: %w", v.name, err))
	}
	obj, logs, err := parseOutput(out)
	v.logLines([]byte(strings.Join(logs, "\n")), "stdout")
	if err != nil {
		return ratify.Report{}, failed(fmt.Errorf("verifier plugin %s (%s): %w", v.name, v.path, err))
	}
	res, err := decodeResult(obj)
	if err != nil {
		return ratify.Report{}, failed(fmt.Errorf("verifier plugin %s (%s): %w", v.name, v.path, err))
	}
	r, err := res.report()
	if err != nil {
		return ratify.Report{}, failed(fmt.Errorf("verifier plugin %s (%s): %w", v.name, v.path, err))
	}
	return r, nil
}
