package kvtest

import (
	"encoding/json"
	"net/http"
	"strings"
)

// serveVault answers the Key Vault REST API's reads.
func (s *Server) serveVault(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.counts[strings.TrimSuffix(r.URL.Path, "/")]++
	down := s.down
	s.mu.Unlock()
	if down {
		writeError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "", "the vault is down")
		return
	}
	if r.URL.Query().Get("api-version") == "" {
		writeError(w, http.StatusBadRequest, "BadParameter", "", "api-version is required")
		return
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer authorization="`+s.Entra.URL+"/"+s.TenantID+`", resource="`+s.resource()+`"`)
		writeError(w, http.StatusUnauthorized, "Unauthorized", "", "AKV10000: Request is missing a Bearer or PoP token.")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if r.Method != http.MethodGet || len(parts) < 2 || len(parts) > 3 || (parts[0] != "secrets" && parts[0] != "keys") {
		writeError(w, http.StatusNotFound, "NotFound", "", "no such operation")
		return
	}
	kind, name := parts[0], parts[1]
	version := ""
	if len(parts) == 3 {
		version = parts[2]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	versions := s.objects[kind+"/"+name]
	notFound := strings.TrimSuffix(strings.ToUpper(kind[:1])+kind[1:], "s") + "NotFound"
	if len(versions) == 0 {
		writeError(w, http.StatusNotFound, notFound, "", "not found: "+name)
		return
	}
	if version == "versions" {
		var list []map[string]any
		for _, o := range versions {
			list = append(list, s.describe(kind, name, o, false))
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": list, "nextLink": nil})
		return
	}
	o := versions[len(versions)-1]
	if version != "" {
		o = nil
		for _, v := range versions {
			if v.version == version {
				o = v
			}
		}
		if o == nil {
			writeError(w, http.StatusNotFound, notFound, "", "no version "+version+" of "+name)
			return
		}
	}
	if !o.enabled {
		inner := "SecretDisabled"
		if kind == "keys" {
			inner = "KeyDisabled"
		}
		writeError(w, http.StatusForbidden, "Forbidden", inner, "Operation get is not allowed on a disabled "+strings.TrimSuffix(kind, "s")+".")
		return
	}
	writeJSON(w, http.StatusOK, s.describe(kind, name, o, true))
}

// describe renders a version as a SecretBundle or KeyBundle (full) or as
// a SecretItem or KeyItem (listing).
func (s *Server) describe(kind, name string, o *object, full bool) map[string]any {
	attrs := map[string]any{"enabled": o.enabled, "created": o.created.Unix(), "updated": o.created.Unix(), "recoveryLevel": "Recoverable"}
	if !o.expires.IsZero() {
		attrs["exp"] = o.expires.Unix()
	}
	id := s.Vault.URL + "/" + kind + "/" + name + "/" + o.version
	out := map[string]any{"attributes": attrs}
	if kind == "secrets" {
		out["id"], out["contentType"] = id, o.contentType
		if full {
			out["value"] = o.value
		}
		return out
	}
	if !full {
		out["kid"] = id
		return out
	}
	jwk := map[string]any{"kid": id}
	for k, v := range o.jwk {
		jwk[k] = v
	}
	out["key"] = jwk
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, inner, msg string) {
	e := map[string]any{"code": code, "message": msg}
	if inner != "" {
		e["innererror"] = map[string]any{"code": inner}
	}
	writeJSON(w, status, map[string]any{"error": e})
}
