package e2e

import (
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testregistry"
)

// thingType is the artifact type the external plugin verifies.
const thingType = "application/vnd.example.thing"

// pluginSource is an external verifier plugin as one is written for
// Ratify v1 (verifier/plugin's protocol, v1's skel): it reads its input on
// standard input and the RATIFY_VERIFIER_* variables, reads the artifact
// through the registry its store configuration and subject name, as v1
// plugins read it, and answers with a verifier result, isSuccess when the
// artifact's one layer says "approved", echoing what it was given in its
// extensions. The "behavior" field of its verifier entry makes it hang,
// print garbage or report a v1 plugin error instead.
const pluginSource = `package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

type input struct {
	Config struct {
		Name     string ` + "`json:\"name\"`" + `
		Behavior string ` + "`json:\"behavior\"`" + `
		PIDFile  string ` + "`json:\"pidFile\"`" + `
	} ` + "`json:\"config\"`" + `
	StoreConfig struct {
		Store struct {
			UseHTTP bool ` + "`json:\"useHttp\"`" + `
		} ` + "`json:\"store\"`" + `
	} ` + "`json:\"storeConfig\"`" + `
	ReferenceDesc struct {
		MediaType string ` + "`json:\"mediaType\"`" + `
		Digest    string ` + "`json:\"digest\"`" + `
	} ` + "`json:\"referenceDesc\"`" + `
}

func main() {
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(5, "error reading from stdin", err.Error())
	}
	var in input
	if err := json.Unmarshal(raw, &in); err != nil {
		fail(1, "error unmarshal verifier config", err.Error())
	}
	command, subject, version := os.Getenv("RATIFY_VERIFIER_COMMAND"), os.Getenv("RATIFY_VERIFIER_SUBJECT"), os.Getenv("RATIFY_VERIFIER_VERSION")
	if command != "VERIFY" {
		fail(3, "unknown command "+command, "")
	}
	if subject == "" || version == "" {
		fail(4, "missing env variables", "")
	}
	switch in.Config.Behavior {
	case "hang":
		_ = os.WriteFile(in.Config.PIDFile, []byte(strconv.Itoa(os.Getpid())), 0o600)
		time.Sleep(time.Hour)
	case "garbage":
		fmt.Println("hello, world")
		return
	case "error":
		fail(8, "plugin command VERIFY failed", "license database unreachable")
	}
	verdict, err := readArtifact(in, subject)
	if err != nil {
		fail(8, "reading the artifact failed", err.Error())
	}
	ok := verdict == "approved"
	result := map[string]any{"isSuccess": ok, "name": in.Config.Name, "type": in.Config.Name,
		"message": "the thing says " + verdict,
		"extensions": map[string]any{
			"env":   map[string]string{"command": command, "subject": subject, "version": version},
			"input": json.RawMessage(raw),
		}}
	if !ok {
		result["errorReason"] = "the thing is not approved"
		result["remediation"] = "approve the thing"
	}
	out, _ := json.Marshal(result)
	fmt.Println("info: verified", in.ReferenceDesc.Digest)
	fmt.Println(string(out))
}

// readArtifact returns the trimmed content of the artifact's first layer,
// read from the subject's registry and repository.
func readArtifact(in input, subject string) (string, error) {
	host, rest, _ := strings.Cut(subject, "/")
	repo, _, _ := strings.Cut(rest, "@")
	base := "https://" + host + "/v2/" + repo
	if in.StoreConfig.Store.UseHTTP {
		base = "http://" + host + "/v2/" + repo
	}
	manifest, err := get(base+"/manifests/"+in.ReferenceDesc.Digest, in.ReferenceDesc.MediaType)
	if err != nil {
		return "", err
	}
	var m struct {
		Layers []struct {
			Digest string ` + "`json:\"digest\"`" + `
		} ` + "`json:\"layers\"`" + `
	}
	if err := json.Unmarshal(manifest, &m); err != nil || len(m.Layers) == 0 {
		return "", fmt.Errorf("manifest without layers: %v", err)
	}
	layer, err := get(base+"/blobs/"+m.Layers[0].Digest, "")
	return strings.TrimSpace(string(layer)), err
}

func get(url, accept string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}

// fail reports an error as v1's skel does: JSON on standard output, exit 1.
func fail(code int, msg, details string) {
	b, _ := json.Marshal(map[string]any{"code": code, "msg": msg, "details": details})
	fmt.Println(string(b))
	os.Exit(1)
}
`

// buildVerifierPlugin builds pluginSource with the go toolchain into a new
// directory as name and returns the directory: a pluginBinDirs entry.
func buildVerifierPlugin(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "main.go")
	if err := os.WriteFile(src, []byte(pluginSource), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build the plugin: %v\n%s", err, out)
	}
	return dir
}

// pluginConfig writes a config.json whose one verifier is the external
// plugin "myplugin" in binDir for thingType, its entry carrying behavior
// and the fields of extra, and whose policy requires every thingType
// artifact to pass.
func pluginConfig(t *testing.T, binDir, behavior string, extra map[string]any) string {
	t.Helper()
	path := writeConfig(t, testratify.ConfigOptions{})
	var cfg map[string]any
	if err := json.Unmarshal(must(os.ReadFile(path))(t), &cfg); err != nil {
		t.Fatal(err)
	}
	verifier := cfg["verifier"].(map[string]any)
	verifier["pluginBinDirs"] = []string{binDir}
	entry := map[string]any{"name": "myplugin", "artifactTypes": thingType, "behavior": behavior}
	maps.Copy(entry, extra)
	verifier["plugins"] = []any{entry}
	cfg["policy"].(map[string]any)["plugin"] = map[string]any{"name": "configPolicy",
		"artifactVerificationPolicies": map[string]string{thingType: "all"}}
	if err := os.WriteFile(path, must(json.Marshal(cfg))(t), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// attachThing pushes an image to repo and attaches, with the oras CLI as
// registry kind k keeps referrers, a thingType artifact whose one layer is
// verdict. It returns the image's digest reference and the artifact's
// manifest descriptor.
func attachThing(t *testing.T, r *testregistry.Registry, k registryKind, repo, verdict string) (string, ocispec.Descriptor) {
	t.Helper()
	_, ref := pushImage(t, r, repo)
	file := filepath.Join(t.TempDir(), "thing.txt")
	if err := os.WriteFile(file, []byte(verdict+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := testratify.ReferrersTag
	if k.referrers {
		spec = testratify.ReferrersAPI
	}
	return ref, testratify.NewOras(t, orasBin).Attach(ref, testratify.Attachment{ArtifactType: thingType, File: file, Spec: spec})
}

// pluginLogLine tells the lines ratify logs for the plugin (what it writes
// besides its result, as Ratify v1 logs it) from ratify's own.
func pluginLogLine(line string) bool {
	return strings.Contains(line, " verifier=myplugin ") && strings.Contains(line, " stream=")
}

// splitPluginLogs splits standard error into the lines logged for the
// plugin and ratify's own.
func splitPluginLogs(stderr string) (logs, own []string) {
	for line := range strings.Lines(stderr) {
		line = strings.TrimSuffix(line, "\n")
		if pluginLogLine(line) {
			logs = append(logs, line)
		} else {
			own = append(own, line)
		}
	}
	return logs, own
}

// verifyPlugin runs `ratify verify -s ref -c config`, asserts the exit
// code (exitPassed or exitFailed) and that standard error holds nothing
// but the plugin's logged lines and, on a failure, the one line saying
// so, and returns the result and the logged lines.
func verifyPlugin(t *testing.T, ref, config string, exit int) (result, []string) {
	t.Helper()
	o := ratify(t, "verify", "-s", ref, "-c", config)
	wantExit(t, o, exit)
	var res result
	if err := json.Unmarshal([]byte(o.stdout), &res); err != nil {
		t.Fatalf("stdout is not a result: %v: %s", err, o)
	}
	if res.IsSuccess != (exit == exitPassed) {
		t.Errorf("isSuccess %v with exit code %d", res.IsSuccess, exit)
	}
	logs, own := splitPluginLogs(o.stderr)
	var want []string
	if exit == exitFailed {
		want = []string{"ratify: " + ref + " failed verification"}
	}
	if !slices.Equal(own, want) {
		t.Errorf("stderr, besides the plugin's log lines, is %q, want %q", own, want)
	}
	return res, logs
}

// wantPluginCouldNotVerify is wantCouldNotVerify for a run whose plugin
// may have written log lines: besides those, standard error is one line
// "ratify: ..." that contains every one of reasons.
func wantPluginCouldNotVerify(t *testing.T, o outcome, reasons ...string) {
	t.Helper()
	_, own := splitPluginLogs(o.stderr)
	o.stderr = strings.Join(own, "\n") + "\n"
	wantCouldNotVerify(t, o, reasons...)
}

// TestVerifyExternalPlugin verifies, through the CLI, an artifact attached
// with the oras CLI by an external plugin speaking Ratify v1's protocol,
// built from source: the plugin's verdict is the report's (pass, exit 0;
// fail, exit 1, with its reason), it is given the subject pinned to its
// digest, the verifier entry, the store and the artifact's descriptor, and
// it reads the artifact itself through the registry.
func TestVerifyExternalPlugin(t *testing.T) {
	binDir := buildVerifierPlugin(t, "myplugin")
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		approved, thing := attachThing(t, r, k, "plugin/approved", "approved")
		rejected, rejectedThing := attachThing(t, r, k, "plugin/rejected", "rejected")
		config := pluginConfig(t, binDir, "check", nil)

		// By tag, too: the plugin is given the subject by digest.
		tag := strings.Replace(approved, "@"+digestOf(approved).String(), ":v1", 1)
		for _, ref := range []string{approved, tag} {
			res, logs := verifyPlugin(t, ref, config, exitPassed)
			wantReports(t, res, 1)
			// The line the plugin printed before its result is logged.
			if len(logs) != 1 || !strings.Contains(logs[0], "INFO verified "+thing.Digest.String()) {
				t.Errorf("plugin log lines %q, want its one info line", logs)
			}
			rep := res.VerifierReports[0]
			if !rep.IsSuccess || rep.VerifierName != "myplugin" || rep.ArtifactType != thingType ||
				rep.ReferenceDigest != thing.Digest.String() || rep.Subject != approved || rep.Message != "the thing says approved" {
				t.Errorf("report %+v, want myplugin's pass on %s", rep, thing.Digest)
			}
			wantPluginInput(t, rep, approved, thing)
		}

		res, _ := verifyPlugin(t, rejected, config, exitFailed)
		wantReports(t, res, 1)
		if rep := res.VerifierReports[0]; rep.IsSuccess || rep.ReferenceDigest != rejectedThing.Digest.String() ||
			rep.Message != "the thing says rejected" || rep.ErrorReason != "the thing is not approved" {
			t.Errorf("report %+v, want myplugin's failure with its reason", rep)
		}
	})
}

// wantPluginInput checks what the plugin echoed in rep's extensions: the
// protocol's variables and its standard input.
func wantPluginInput(t *testing.T, rep report, subject string, artifact ocispec.Descriptor) {
	t.Helper()
	var ext struct {
		Env   map[string]string `json:"env"`
		Input struct {
			Config        map[string]any     `json:"config"`
			StoreConfig   map[string]any     `json:"storeConfig"`
			ReferenceDesc ocispec.Descriptor `json:"referenceDesc"`
		} `json:"input"`
	}
	raw := must(json.Marshal(rep.Extensions))(t)
	if err := json.Unmarshal(raw, &ext); err != nil {
		t.Fatalf("extensions: %v: %s", err, raw)
	}
	if want := map[string]string{"command": "VERIFY", "subject": subject, "version": "1.0.0"}; !maps.Equal(ext.Env, want) {
		t.Errorf("plugin environment %v, want %v", ext.Env, want)
	}
	in := ext.Input
	if in.Config["name"] != "myplugin" || in.Config["artifactTypes"] != thingType || in.Config["behavior"] != "check" {
		t.Errorf("plugin input config %v, want the verifier entry as written", in.Config)
	}
	if store, _ := in.StoreConfig["store"].(map[string]any); store["name"] != "oras" || store["useHttp"] != true {
		t.Errorf("plugin input storeConfig %v, want the oras store entry", in.StoreConfig)
	}
	if d := in.ReferenceDesc; d.Digest != artifact.Digest || d.ArtifactType != thingType || d.MediaType != ocispec.MediaTypeImageManifest || d.Size != artifact.Size {
		t.Errorf("plugin input referenceDesc %+v, want the artifact's %+v", d, artifact)
	}
}

// wantHintBlamesPlugin checks, in a subtest, that the hint ratify gives
// for a plugin's failure does not send the user to the registry.
func wantHintBlamesPlugin(t *testing.T, o outcome) {
	t.Helper()
	t.Run("hint", func(t *testing.T) {
		if !strings.Contains(o.stderr, "the external verifier plugin failed") {
			t.Errorf("the hint does not point at the plugin: %s", o)
		}
		for _, s := range []string{"registry served", "registry or revocation servers"} {
			if strings.Contains(o.stderr, s) {
				t.Errorf("the hint blames the registry (%q) for the plugin: %s", s, o)
			}
		}
	})
}

// TestVerifyExternalPluginMisbehaves checks that a plugin that hangs,
// prints garbage, reports an error or cannot be trusted to run is "could
// not verify" (exit 2), never a pass nor "unsigned", and that a hanging
// plugin is killed at the verification's deadline.
func TestVerifyExternalPluginMisbehaves(t *testing.T) {
	binDir := buildVerifierPlugin(t, "myplugin")
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		ref, _ := attachThing(t, r, k, "plugin/misbehaves", "approved")

		t.Run("hang", func(t *testing.T) {
			// `ratify verify` bounds the whole verification with --timeout
			// (executor.verificationRequestTimeout is the server's); the
			// plugin's own bound is 10 s.
			const deadline = 1500 * time.Millisecond
			pidFile := filepath.Join(t.TempDir(), "pid")
			config := pluginConfig(t, binDir, "hang", map[string]any{"pidFile": pidFile})
			start := time.Now()
			o := ratify(t, "verify", "-s", ref, "-c", config, "--timeout", deadline.String())
			elapsed := time.Since(start)
			wantPluginCouldNotVerify(t, o, "myplugin", "killed", "deadline")
			// Well before the plugin's own 10 s: the deadline stopped it.
			if elapsed < deadline || elapsed > deadline+5*time.Second {
				t.Errorf("ratify answered after %s with a deadline of %s", elapsed, deadline)
			}
			wantHintBlamesPlugin(t, o)
			// ratify waits for the plugin it killed: nothing is left running.
			data, err := os.ReadFile(pidFile)
			if errors.Is(err, fs.ErrNotExist) {
				t.Logf("the plugin was killed before it wrote its pid (a slow start); its end is not checked: %s", o)
				return
			}
			pid := must(strconv.Atoi(string(must(data, err)(t))))(t)
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("the hanging plugin (pid %d) still exists after ratify exited: kill -0: %v", pid, err)
			}
		})
		t.Run("garbage", func(t *testing.T) {
			o := ratify(t, "verify", "-s", ref, "-c", pluginConfig(t, binDir, "garbage", nil))
			wantPluginCouldNotVerify(t, o, "myplugin", "no JSON result", "hello, world")
			wantHintBlamesPlugin(t, o)
		})
		t.Run("plugin error", func(t *testing.T) {
			o := ratify(t, "verify", "-s", ref, "-c", pluginConfig(t, binDir, "error", nil))
			wantPluginCouldNotVerify(t, o, "myplugin", "plugin command VERIFY failed", "license database unreachable")
		})
		t.Run("world-writable", func(t *testing.T) {
			dir := t.TempDir()
			exe := filepath.Join(dir, "myplugin")
			if err := os.WriteFile(exe, must(os.ReadFile(filepath.Join(binDir, "myplugin")))(t), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(exe, 0o757); err != nil { // umask-proof
				t.Fatal(err)
			}
			o := ratify(t, "verify", "-s", ref, "-c", pluginConfig(t, dir, "check", nil))
			wantPluginCouldNotVerify(t, o, "world-writable")
		})
	})
}
