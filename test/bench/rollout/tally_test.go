package rollout

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sync"
	"time"
)

// attempt is one ProviderRequest and what came of it.
type attempt struct {
	keys    []string
	latency time.Duration
	timeout bool   // the client's deadline expired
	system  string // transport error, status other than 200, or systemError
	items   []item
}

// imageTally is what was reported about one image, over all attempts.
type imageTally struct {
	passed, failed, errored int
}

// tally adds up the attempts and the pods' final verdicts.
type tally struct {
	mu        sync.Mutex
	latencies []time.Duration
	attempts  int
	timeouts  int
	system    int
	// Items over all answered attempts.
	passed, failed, errored int
	// Pods by final verdict, and those admitted at the first attempt.
	verdicts [3]int
	firstTry int
	images   map[string]*imageTally
	// maxStall is the longest the load generator was late to wake up.
	maxStall time.Duration
	// reasons counts why items failed or could not be verified, and why
	// whole requests did, with image names and digests masked.
	reasons map[string]int
}

func newTally() *tally {
	return &tally{images: map[string]*imageTally{}, reasons: map[string]int{}}
}

// record adds a and returns the verdict Gatekeeper's policy reaches on it:
// a pod with a failing image is denied as failed; otherwise one with an
// image that could not be verified (or no answer in time) is denied as
// unverified.
func (t *tally) record(a attempt) verdict {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.attempts++
	t.latencies = append(t.latencies, a.latency)
	switch {
	case a.timeout:
		t.timeouts++
		t.reason("client deadline exceeded")
		return unverified
	case a.system != "":
		t.system++
		t.reason("system error: " + a.system)
		return unverified
	}
	var anyFailed, anyUnverified bool
	answered := map[string]bool{}
	for _, it := range a.items {
		answered[it.Key] = true
		img := t.image(it.Key)
		var res result
		switch {
		case it.Error != "":
			t.errored++
			img.errored++
			t.reason("item error: " + it.Error)
			anyUnverified = true
		case json.Unmarshal(it.Value, &res) != nil:
			t.errored++
			img.errored++
			t.reason("item value is not a result")
			anyUnverified = true
		case res.IsSuccess:
			t.passed++
			img.passed++
		default:
			t.failed++
			img.failed++
			t.reason("failed: " + res.why())
			anyFailed = true
		}
	}
	for _, k := range a.keys {
		if !answered[k] {
			t.errored++
			t.image(k).errored++
			t.reason("key not answered")
			anyUnverified = true
		}
	}
	switch {
	case anyFailed:
		return failed
	case anyUnverified:
		return unverified
	}
	return admitted
}

// progress is a line on how far the rollout is after elapsed.
func (t *tally) progress(elapsed time.Duration) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return fmt.Sprintf("%s: %d attempts (%d timeouts, %d system errors); items %d passed, %d failed, %d errors; pods %d admitted, %d denied failed, %d gave up",
		elapsed.Round(time.Second), t.attempts, t.timeouts, t.system, t.passed, t.failed, t.errored,
		t.verdicts[admitted], t.verdicts[failed], t.verdicts[unverified])
}

func (t *tally) stalled(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.maxStall = max(t.maxStall, d)
}

// final records a pod's final verdict after tries attempts.
func (t *tally) final(v verdict, tries int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.verdicts[v]++
	if v == admitted && tries == 1 {
		t.firstTry++
	}
}

func (t *tally) image(key string) *imageTally {
	img := t.images[key]
	if img == nil {
		img = &imageTally{}
		t.images[key] = img
	}
	return img
}

// masks make reasons of different images and registries alike.
var masks = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`sha256:[0-9a-f]{64}`), "sha256:…"},
	{regexp.MustCompile(`127\.0\.0\.1:\d+`), "HOST"},
	{regexp.MustCompile(`app-\d+`), "app-N"},
	{regexp.MustCompile(`\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`), "UUID"},
	{regexp.MustCompile(`waiting \S+ to retry`), "waiting … to retry"},
}

// maxReasons bounds the distinct reasons kept.
const maxReasons = 40

func (t *tally) reason(msg string) {
	for _, m := range masks {
		msg = m.re.ReplaceAllString(msg, m.with)
	}
	if len(msg) > 240 {
		msg = msg[:240] + "…"
	}
	if _, ok := t.reasons[msg]; !ok && len(t.reasons) >= maxReasons {
		msg = "(other reasons)"
	}
	t.reasons[msg]++
}

// result is the part of a verification result (Ratify's result 0.2.0)
// the policy and this report read.
type result struct {
	IsSuccess       bool `json:"isSuccess"`
	VerifierReports []struct {
		IsSuccess   bool   `json:"isSuccess"`
		Message     string `json:"message"`
		ErrorReason string `json:"errorReason"`
	} `json:"verifierReports"`
}

// why is the first failing report's reason (or message).
func (r result) why() string {
	for _, rep := range r.VerifierReports {
		if rep.IsSuccess {
			continue
		}
		if rep.ErrorReason != "" {
			return rep.ErrorReason
		}
		return rep.Message
	}
	if len(r.VerifierReports) == 0 {
		return "no verifier reports"
	}
	return "policy rejected passing reports"
}
