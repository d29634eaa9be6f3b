package attestation

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// provenance is the part of an SLSA provenance v1 predicate
// (https://slsa.dev/spec/v1.0/provenance) that SLSA checks read.
type provenance struct {
	BuildDefinition struct {
		BuildType          string `json:"buildType"`
		ExternalParameters struct {
			// Workflow is what GitHub's build types (the
			// actions/attest-build-provenance workflow type and the
			// slsa-github-generator's) record of the workflow run.
			Workflow *struct {
				Ref        string `json:"ref"`
				Repository string `json:"repository"`
				Path       string `json:"path"`
			} `json:"workflow"`
		} `json:"externalParameters"`
		ResolvedDependencies []struct {
			URI string `json:"uri"`
		} `json:"resolvedDependencies"`
	} `json:"buildDefinition"`
	RunDetails struct {
		Builder struct {
			ID string `json:"id"`
		} `json:"builder"`
	} `json:"runDetails"`
}

// check compares the predicate with the expectations, returning the
// checks that passed, or a problem naming the first that failed.
func (s *SLSA) check(predicate json.RawMessage) ([]string, string) {
	var p provenance
	if err := json.Unmarshal(predicate, &p); err != nil {
		return nil, fmt.Sprintf("the predicate is not SLSA provenance v1: %v", err)
	}
	var passed []string
	if s.BuilderID != "" {
		got := p.RunDetails.Builder.ID
		if got != s.BuilderID {
			return passed, fmt.Sprintf("builder %q is not %q", got, s.BuilderID)
		}
		passed = append(passed, "builderID is "+got)
	}
	repo, ref, from := p.source()
	if s.SourceRepository != "" {
		if repo == "" {
			return passed, "the provenance names no source repository (externalParameters.workflow.repository or resolvedDependencies[0].uri)"
		}
		if normalRepo(repo) != normalRepo(s.SourceRepository) {
			return passed, fmt.Sprintf("source repository %q (%s) is not %q", repo, from, s.SourceRepository)
		}
		passed = append(passed, fmt.Sprintf("sourceRepository is %s (%s)", repo, from))
	}
	if s.SourceRef != "" {
		if ref != s.SourceRef {
			return passed, fmt.Sprintf("source ref %q (%s) is not %q", ref, from, s.SourceRef)
		}
		passed = append(passed, fmt.Sprintf("sourceRef is %s (%s)", ref, from))
	}
	return passed, ""
}

// source returns the repository and ref built and where they were read:
// the external parameters of GitHub's workflow build types, or the first
// resolved dependency, which SLSA's build types make the source
// ("git+https://host/repo@ref").
func (p *provenance) source() (repo, ref, from string) {
	if w := p.BuildDefinition.ExternalParameters.Workflow; w != nil && w.Repository != "" {
		return w.Repository, w.Ref, "externalParameters.workflow"
	}
	if deps := p.BuildDefinition.ResolvedDependencies; len(deps) > 0 && deps[0].URI != "" {
		uri := deps[0].URI
		// The ref follows the last "@" of the path (not one of the
		// authority's user information).
		path := 0
		if scheme := strings.Index(uri, "://"); scheme >= 0 {
			if slash := strings.Index(uri[scheme+3:], "/"); slash >= 0 {
				path = scheme + 3 + slash
			}
		}
		if i := strings.LastIndex(uri, "@"); path > 0 && i > path {
			return uri[:i], uri[i+1:], "resolvedDependencies[0].uri"
		}
		return uri, "", "resolvedDependencies[0].uri"
	}
	return "", "", ""
}

// normalRepo is a repository URL in a comparable form: without "git+", a
// trailing "/" or ".git", with the scheme (https when none is given) and
// host in lower case. The path keeps its case.
func normalRepo(s string) string {
	s = strings.TrimPrefix(strings.TrimSpace(s), "git+")
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	path := strings.TrimSuffix(strings.TrimSuffix(u.EscapedPath(), "/"), ".git")
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + path
}
