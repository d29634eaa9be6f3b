{{/*
ratify.notationTrust: the notation verifier's trust, computed once from
notation.trustPolicies, notationCerts and Azure Key Vault, as YAML:

  policies: Notary Project trust policies (trust policy specification v1.0)
  stores:   one entry per trust store the policies name, keyed "TYPE:NAME":
            {type, name, certs: [indexes into notationCerts], akv: bool}

A trustStores entry is "TYPE:SOURCE" or, as in Ratify v1.0, {TYPE: SOURCE}.
TYPE is ca, signingAuthority or tsa. SOURCE notationCerts[i] is the store
"notationCerts-i" holding that certificate; azurekeyvault is the store
"azurekeyvault" holding the Key Vault certificates; any other SOURCE (e.g.
"certs") is a store of that name holding every notationCert and the Key
Vault certificates. A policy without trustStores uses ca:certs.

notationCerts reach ratify as files of a mounted Secret laid out as
Notation's trust store (TYPE/NAME/cert-i.pem); the Key Vault certificates
through the KeyManagementProvider kmprovider-akv, which the Verifier names in
verificationCertStores.
*/}}
{{- define "ratify.notationTrust" -}}
{{- $certs := include "ratify.notationCerts" . | fromYamlArray }}
{{- $akv := eq (include "ratify.akvEnabled" .) "true" }}
{{- $policies := list }}
{{- $stores := dict }}
{{- range $i, $p := .Values.notation.trustPolicies }}
  {{- $name := $p.name | default (ternary "default" (printf "policy-%d" $i) (eq $i 0)) }}
  {{- $sv := $p.signatureVerification | default dict }}
  {{- $level := $p.verificatonLevel | default $p.verificationLevel | default $sv.level | default "strict" }}
  {{- $verification := dict "level" $level }}
  {{- with $sv.override }}{{ $_ := set $verification "override" . }}{{ end }}
  {{- with $sv.verifyTimestamp }}{{ $_ := set $verification "verifyTimestamp" . }}{{ end }}
  {{- $refs := list }}
  {{- range $entry := $p.trustStores | default (list "ca:certs") }}
    {{- $pairs := list }}
    {{- if kindIs "string" $entry }}
      {{- if not (contains ":" $entry) }}
        {{- fail (printf "notation.trustPolicies[%d].trustStores: %q is not TYPE:SOURCE (e.g. ca:notationCerts[0])" $i $entry) }}
      {{- end }}
      {{- $parts := splitn ":" 2 $entry }}
      {{- $pairs = append $pairs (list $parts._0 $parts._1) }}
    {{- else if kindIs "map" $entry }}
      {{- range $type, $source := $entry }}{{ $pairs = append $pairs (list $type (toString $source)) }}{{ end }}
    {{- else }}
      {{- fail (printf "notation.trustPolicies[%d].trustStores: %v is neither TYPE:SOURCE nor {TYPE: SOURCE}" $i $entry) }}
    {{- end }}
    {{- range $pair := $pairs }}
      {{- $type := index $pair 0 }}
      {{- $source := index $pair 1 }}
      {{- if not (has $type (list "ca" "signingAuthority" "tsa")) }}
        {{- fail (printf "notation.trustPolicies[%d].trustStores: type %q is not ca, signingAuthority or tsa" $i $type) }}
      {{- end }}
      {{- $store := dict "type" $type "certs" list "akv" false }}
      {{- if regexMatch "^notationCerts\\[[0-9]+\\]$" $source }}
        {{- $n := regexFind "[0-9]+" $source | atoi }}
        {{- if ge $n (len $certs) }}
          {{- fail (printf "notation.trustPolicies[%d].trustStores: %s, but notationCerts has %d certificate(s)" $i $source (len $certs)) }}
        {{- end }}
        {{- $_ := set $store "name" (printf "notationCerts-%d" $n) }}
        {{- $_ := set $store "certs" (list $n) }}
      {{- else if eq $source "azurekeyvault" }}
        {{- if not $akv }}
          {{- fail (printf "notation.trustPolicies[%d].trustStores: %s:azurekeyvault, but azurekeyvault.enabled is false" $i $type) }}
        {{- end }}
        {{- $_ := set $store "name" "azurekeyvault" }}
        {{- $_ := set $store "akv" true }}
      {{- else if regexMatch "^[A-Za-z0-9_.-]+$" $source }}
        {{- $_ := set $store "name" $source }}
        {{- $_ := set $store "certs" (untilStep 0 (len $certs) 1) }}
        {{- $_ := set $store "akv" $akv }}
      {{- else }}
        {{- fail (printf "notation.trustPolicies[%d].trustStores: %q is not notationCerts[i], azurekeyvault or a trust store name ([A-Za-z0-9_.-]+)" $i $source) }}
      {{- end }}
      {{- $key := printf "%s:%s" $type $store.name }}
      {{- $_ := set $stores $key $store }}
      {{- if not (has $key $refs) }}{{ $refs = append $refs $key }}{{ end }}
    {{- end }}
  {{- end }}
  {{- $policies = append $policies (dict
      "name" $name
      "registryScopes" ($p.registryScopes | default (list "*"))
      "signatureVerification" $verification
      "trustStores" $refs
      "trustedIdentities" ($p.trustedIdentities | default (list "*"))) }}
{{- end }}
{{- if not $policies }}
  {{- fail "notation.trustPolicies is empty: the notation verifier needs at least one trust policy" }}
{{- end }}
{{- dict "policies" $policies "stores" $stores | toYaml }}
{{- end }}

{{/*
ratify.trustPolicyDoc: the Notary Project trust policy document (version 1.0).
*/}}
{{- define "ratify.trustPolicyDoc" -}}
{{- $trust := include "ratify.notationTrust" . | fromYaml }}
{{- dict "version" "1.0" "trustPolicies" $trust.policies | toYaml }}
{{- end }}

{{/*
ratify.notationCertItems: the items of the notation certificates' Secret
volume: each store's certificates at TYPE/NAME/cert-i.pem. A store with no
notationCert (Key Vault only, or no certificate given yet) gets
placeholder.pem, a CA certificate whose private key is never kept (see
secret-notation-certs.yaml), so that config.json builds and trusts nothing.
*/}}
{{- define "ratify.notationCertItems" -}}
{{- $trust := include "ratify.notationTrust" . | fromYaml }}
{{- $items := list }}
{{- range $key := keys $trust.stores | sortAlpha }}
  {{- $s := get $trust.stores $key }}
  {{- range $n := $s.certs }}
    {{- $items = append $items (dict "key" (printf "cert-%d.pem" (int $n)) "path" (printf "%s/%s/cert-%d.pem" $s.type $s.name (int $n))) }}
  {{- end }}
  {{- if not $s.certs }}
    {{- $items = append $items (dict "key" "placeholder.pem" "path" (printf "%s/%s/placeholder.pem" $s.type $s.name)) }}
  {{- end }}
{{- end }}
{{- $items | toYaml }}
{{- end }}

{{/*
ratify.verificationCertStores: the Key Vault trust stores, as Ratify v1's
verificationCertStores ({TYPE: {NAME: [KeyManagementProvider names]}}); empty
without Key Vault.
*/}}
{{- define "ratify.verificationCertStores" -}}
{{- $trust := include "ratify.notationTrust" . | fromYaml }}
{{- $out := dict }}
{{- range $key := keys $trust.stores | sortAlpha }}
  {{- $s := get $trust.stores $key }}
  {{- if $s.akv }}
    {{- $byName := get $out $s.type | default dict }}
    {{- $_ := set $byName $s.name (list "kmprovider-akv") }}
    {{- $_ := set $out $s.type $byName }}
  {{- end }}
{{- end }}
{{- if $out }}{{ $out | toYaml }}{{ end }}
{{- end }}
