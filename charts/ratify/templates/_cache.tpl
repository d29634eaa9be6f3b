{{/*
The verification result cache of `ratify serve` (provider.cache).

ratify.cacheType: provider.cache.type as `--cache-type` takes it, checked.
ristretto (or memory; empty means ristretto) keeps results in each
replica's memory; redis also shares them between replicas through the Redis
server at provider.cache.redis.address, each value authenticated with an
HMAC key that every replica reads from the same Secret.

Ratify v1's dapr (a Dapr sidecar and its Redis state store component, with
featureFlags.RATIFY_EXPERIMENTAL_HIGH_AVAILABILITY) fails the render: ratify
talks to Redis itself and has no Dapr client, and turning a shared cache
into per-replica ones without a word would multiply the registry requests by
the replica count. The message says what to set instead.
*/}}
{{- define "ratify.cacheType" -}}
{{- $cache := .Values.provider.cache }}
{{- $type := $cache.type | default "ristretto" }}
{{- if eq $type "dapr" }}
{{- $component := "" }}
{{- with $cache.name }}{{ $component = printf " (component %q)" . }}{{ end }}
{{- fail (printf "provider.cache.type=dapr: ratify has no Dapr client; it shares results through Redis itself, without a sidecar. Point it at the Redis of your Dapr state store%s: set provider.cache.type=redis and provider.cache.redis.address=HOST:PORT (and provider.cache.redis.passwordSecret.name and .key if Redis needs a password); featureFlags.RATIFY_EXPERIMENTAL_HIGH_AVAILABILITY is not needed. Or set provider.cache.type=ristretto to keep results in each replica's memory." $component) }}
{{- end }}
{{- if eq $type "redis" }}
{{- if not $cache.enabled }}
{{- fail "provider.cache.type=redis shares verification results, which provider.cache.enabled=false turns off: set provider.cache.enabled=true, or provider.cache.type=ristretto" }}
{{- end }}
{{- if not (dig "redis" "address" "" $cache) }}
{{- fail "provider.cache.type=redis needs provider.cache.redis.address=HOST:PORT (the Redis server the replicas share)" }}
{{- end }}
{{- end }}
{{- $type }}
{{- end }}

{{/* ratify.cacheSecretsDir: where the pod finds the HMAC key, the Redis password and Redis's CA. */}}
{{- define "ratify.cacheSecretsDir" -}}/usr/local/ratify-cache{{- end }}

{{/*
ratify.cacheHMACSecret: the Secret holding the HMAC key, as YAML {name, key}:
provider.cache.redis.hmacKeySecret when it names one, else the Secret
<fullname>-cache-hmac that the chart makes (secret-cache-hmac.yaml).
*/}}
{{- define "ratify.cacheHMACSecret" -}}
{{- $given := dig "redis" "hmacKeySecret" dict .Values.provider.cache }}
{{- if $given.name }}
{{- dict "name" $given.name "key" ($given.key | default "hmac-key") | toYaml }}
{{- else }}
{{- dict "name" (printf "%s-cache-hmac" (include "ratify.fullname" .)) "key" "hmac-key" "generated" true | toYaml }}
{{- end }}
{{- end }}

{{/*
ratify.cacheArgs: the arguments of `ratify serve` for the shared cache and
the optional cache windows, one "- ARG" line each (nothing with the defaults).
*/}}
{{- define "ratify.cacheArgs" -}}
{{- $cache := .Values.provider.cache }}
{{- if eq (include "ratify.cacheType" .) "redis" }}
{{- $redis := $cache.redis }}
- {{ printf "--cache-address=%s" $redis.address | quote }}
- --cache-hmac-key-file={{ include "ratify.cacheSecretsDir" . }}/hmac-key
{{- if dig "passwordSecret" "name" "" $redis }}
- --cache-password-file={{ include "ratify.cacheSecretsDir" . }}/password
{{- end }}
{{- $caSecret := dig "tls" "caSecret" "name" "" $redis }}
{{- if or (dig "tls" "enabled" false $redis) $caSecret }}
- --cache-redis-tls
{{- end }}
{{- if $caSecret }}
- --cache-redis-ca-file={{ include "ratify.cacheSecretsDir" . }}/redis-ca.crt
{{- end }}
{{- with $redis.timeout }}
- --cache-redis-timeout={{ . }}
{{- end }}
{{- end }}
{{- with $cache.negativeTtl }}
- --cache-negative-ttl={{ . }}
{{- end }}
{{- with $cache.staleTtl }}
- --cache-stale-ttl={{ . }}
{{- end }}
{{- end }}

{{/*
ratify.cacheVolume: with the redis cache, the projected volume
"cache-secrets" (mounted at ratify.cacheSecretsDir): hmac-key from the HMAC
Secret and, when given, password from provider.cache.redis.passwordSecret
and redis-ca.crt from provider.cache.redis.tls.caSecret. The Secrets live in
the release's namespace.
*/}}
{{- define "ratify.cacheVolume" -}}
{{- if eq (include "ratify.cacheType" .) "redis" }}
{{- $hmac := include "ratify.cacheHMACSecret" . | fromYaml }}
{{- $password := dig "redis" "passwordSecret" dict .Values.provider.cache }}
{{- $ca := dig "redis" "tls" "caSecret" dict .Values.provider.cache }}
- name: cache-secrets
  projected:
    sources:
      - secret:
          name: {{ $hmac.name }}
          items:
            - key: {{ $hmac.key }}
              path: hmac-key
      {{- if $password.name }}
      - secret:
          name: {{ $password.name }}
          items:
            - key: {{ $password.key | default "redis-password" }}
              path: password
      {{- end }}
      {{- if $ca.name }}
      - secret:
          name: {{ $ca.name }}
          items:
            - key: {{ $ca.key | default "ca.crt" }}
              path: redis-ca.crt
      {{- end }}
{{- end }}
{{- end }}
