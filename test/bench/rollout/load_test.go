package rollout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// verifyPath is the provider's verify endpoint (Ratify v1's path).
const verifyPath = "/ratify/gatekeeper/v1/verify"

// pod is one pod admission: its containers' image keys and how many times
// it has been sent.
type pod struct {
	keys  []string
	tries int
}

// pods makes n pods of containers images each, drawn from images without
// repeats within a pod, from seed (so that runs compare).
func pods(n, containers int, images []string, seed uint64) []*pod {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]*pod, n)
	for i := range out {
		p := &pod{}
		for len(p.keys) < min(containers, len(images)) {
			if key := images[rng.IntN(len(images))]; !slices.Contains(p.keys, key) {
				p.keys = append(p.keys, key)
			}
		}
		out[i] = p
	}
	return out
}

// verdict is how Gatekeeper's policy decides a pod from one answer.
type verdict int

const (
	admitted   verdict = iota // every image verified and passed
	failed                    // some image was reported as failing verification
	unverified                // some image could not be verified: an item error, a system error, a timeout
)

// generator sends pods to the replicas as Gatekeeper's webhook does: at
// most concurrency requests in flight, a deadline each, replicas taken in
// turn (a Service spreading the webhook's requests), and a pod denied
// because it could not be verified sent again after retryDelay, up to
// retries more times, as a controller recreates it.
type generator struct {
	endpoints   []string
	concurrency int
	deadline    time.Duration
	retries     int
	retryDelay  time.Duration

	client *http.Client
	next   atomic.Uint64
	tally  *tally
	// progress, when set, is told how far the rollout is every
	// progressEvery.
	progress func(string)
}

const progressEvery = 10 * time.Second

// newGenerator returns a generator for s's pods that sends them to the
// provider listeners endpoints ("127.0.0.1:PORT").
func newGenerator(s scenario, endpoints []string) *generator {
	return &generator{
		endpoints: endpoints, concurrency: s.Concurrency, deadline: s.Deadline,
		retries: s.Retries, retryDelay: s.RetryDelay,
		client: &http.Client{Transport: &http.Transport{
			MaxIdleConns: s.Concurrency, MaxIdleConnsPerHost: s.Concurrency, IdleConnTimeout: time.Minute,
		}},
		tally: newTally(),
	}
}

// run admits every pod (with retries) and returns once each has its final
// verdict.
func (g *generator) run(ctx context.Context, all []*pod) *tally {
	defer g.client.CloseIdleConnections()
	queue := make(chan *pod, len(all)) // a pod is queued at most once at a time
	var pending sync.WaitGroup
	pending.Add(len(all))
	for _, p := range all {
		queue <- p
	}
	go func() {
		pending.Wait()
		close(queue)
	}()
	if g.progress != nil {
		stop := g.report()
		defer stop()
	}
	defer g.watchStalls()()
	var workers sync.WaitGroup
	for range g.concurrency {
		workers.Go(func() {
			for p := range queue {
				p.tries++
				v := g.admit(ctx, p.keys)
				if v == unverified && p.tries <= g.retries && ctx.Err() == nil {
					time.AfterFunc(g.retryDelay, func() { queue <- p })
					continue
				}
				g.tally.final(v, p.tries)
				pending.Done()
			}
		})
	}
	workers.Wait()
	return g.tally
}

// report tells progress how far the rollout is until stopped.
func (g *generator) report() (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	start := time.Now()
	go func() {
		defer close(exited)
		tick := time.NewTicker(progressEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				g.progress(g.tally.progress(time.Since(start)))
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}

// stallTick is how often watchStalls wakes up.
const stallTick = 50 * time.Millisecond

// watchStalls records in the tally, until stopped, the longest time this
// process was late to wake up: how long a busy machine stalled the load
// generator and the registry, which it takes for ratify's own delay.
func (g *generator) watchStalls() (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		for {
			start := time.Now()
			select {
			case <-done:
				return
			case <-time.After(stallTick):
				g.tally.stalled(time.Since(start) - stallTick)
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}

// admit sends one ProviderRequest for keys and records what came back.
func (g *generator) admit(ctx context.Context, keys []string) verdict {
	endpoint := g.endpoints[g.next.Add(1)%uint64(len(g.endpoints))]
	start := time.Now()
	resp, err := g.post(ctx, endpoint, keys)
	a := attempt{latency: time.Since(start), keys: keys}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		a.timeout = true
	case err != nil:
		a.system = err.Error()
	case resp.Response.SystemError != "":
		a.system = resp.Response.SystemError
	default:
		a.items = resp.Response.Items
	}
	return g.tally.record(a)
}

// providerResponse is the part of Gatekeeper's ProviderResponse the policy
// reads.
type providerResponse struct {
	Response struct {
		Items       []item `json:"items"`
		SystemError string `json:"systemError"`
	} `json:"response"`
}

// item is the answer for one key: a verification result or an error.
type item struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
	Error string          `json:"error"`
}

// post sends the ProviderRequest under the deadline and decodes the answer;
// a status other than 200 is a system error, as Gatekeeper takes it.
func (g *generator) post(ctx context.Context, endpoint string, keys []string) (*providerResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, g.deadline)
	defer cancel()
	body, err := json.Marshal(map[string]any{
		"apiVersion": "externaldata.gatekeeper.sh/v1beta1", "kind": "ProviderRequest",
		"request": map[string]any{"keys": keys},
	})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+endpoint+verifyPath, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var pr providerResponse
	if err := json.Unmarshal(data, &pr); err != nil {
		return nil, errors.New(resp.Status + ": body is not a ProviderResponse")
	}
	if resp.StatusCode != http.StatusOK && pr.Response.SystemError == "" {
		pr.Response.SystemError = resp.Status
	}
	return &pr, nil
}
