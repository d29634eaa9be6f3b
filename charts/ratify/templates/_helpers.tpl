{{/*
Names and labels.
*/}}

{{/* ratify.name: the chart's name, or nameOverride. */}}
{{- define "ratify.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
ratify.fullname: the name of the Deployment, Service, ConfigMap and Secrets.
The Providers' URL and the serving certificate name the Service by it.
*/}}
{{- define "ratify.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ratify.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ratify.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ratify.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ratify.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* ratify.serviceAccountName: the ServiceAccount the pod runs as. */}}
{{- define "ratify.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ratify.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* ratify.image: repository:tag, the tag defaulting to appVersion. */}}
{{- define "ratify.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* ratify.tlsSecretName: the Secret of the serving certificate (--cert-dir). */}}
{{- define "ratify.tlsSecretName" -}}
{{- printf "%s-tls" (include "ratify.fullname" .) }}
{{- end }}

{{/* ratify.certRotation: "true" when ratify rotates its own certificate. */}}
{{- define "ratify.certRotation" -}}
{{- if .Values.featureFlags.RATIFY_CERT_ROTATION }}true{{ end }}
{{- end }}

{{/*
ratify.akvEnabled: "true" when the Azure Key Vault KeyManagementProvider is
rendered (azurekeyvault.enabled, or Ratify v1's deprecated akvCertConfig.enabled).
*/}}
{{- define "ratify.akvEnabled" -}}
{{- if or .Values.azurekeyvault.enabled .Values.akvCertConfig.enabled }}true{{ end }}
{{- end }}

{{/*
ratify.notationCerts: the notation certificates as a YAML list: notationCerts,
or the deprecated single notationCert (not both).
*/}}
{{- define "ratify.notationCerts" -}}
{{- if and .Values.notationCert .Values.notationCerts }}
{{- fail "notationCert is deprecated: give every certificate in notationCerts, not both" }}
{{- end }}
{{- if .Values.notationCert }}
{{- list .Values.notationCert | toYaml }}
{{- else }}
{{- .Values.notationCerts | default list | toYaml }}
{{- end }}
{{- end }}

{{/* Mount points and files inside the pod. */}}
{{- define "ratify.configDir" -}}/usr/local/ratify{{- end }}
{{- define "ratify.certDir" -}}/usr/local/tls{{- end }}
{{- define "ratify.clientCAFile" -}}/usr/local/tls/client-ca/ca.crt{{- end }}
{{- define "ratify.notationCertDir" -}}/usr/local/ratify-certs/notation{{- end }}

{{/*
ratify.executorTimeoutMS: ratify's deadline for a Provider timeout in
seconds: 100 ms less, so that ratify's answer reaches Gatekeeper before
Gatekeeper gives up on it.
*/}}
{{- define "ratify.executorTimeoutMS" -}}
{{- sub (mul (int .) 1000) 100 }}
{{- end }}

{{/* ratify.cosignKeys: cosignKeys plus the deprecated cosign.key, as a YAML list. */}}
{{- define "ratify.cosignKeys" -}}
{{- $keys := .Values.cosignKeys | default list }}
{{- if .Values.cosign.key }}{{ $keys = append $keys .Values.cosign.key }}{{ end }}
{{- $keys | toYaml }}
{{- end }}

{{/*
ratify.logLevel: logger.level as `ratify serve --log-level` takes it (debug,
info, warn, error), Ratify v1's logrus names mapped to the nearest.
*/}}
{{- define "ratify.logLevel" -}}
{{- $level := .Values.logger.level | default "info" | lower }}
{{- get (dict "trace" "debug" "warning" "warn" "fatal" "error" "panic" "error") $level | default $level }}
{{- end }}
