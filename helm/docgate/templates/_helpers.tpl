{{/* The name of every object: <release>-docgate, at most 63 characters. */}}
{{- define "docgate.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "docgate.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "docgate.labels" -}}
{{ include "docgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "docgate.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Where the database password file is mounted. */}}
{{- define "docgate.passwordFile" -}}
/var/run/secrets/docgate/database/{{ .Values.database.passwordSecret.key }}
{{- end -}}

{{/* With TLS on, probes ask the plaintext health port. */}}
{{- define "docgate.probePort" -}}
{{- if .Values.tls.secretName }}{{ .Values.tls.healthPort }}{{ else }}{{ .Values.grpcPort }}{{ end -}}
{{- end -}}

{{/* The Secret holding the client CA, when mutual TLS is on and it is not the TLS Secret. */}}
{{- define "docgate.separateClientCASecret" -}}
{{- if and .Values.tls.clientCA.enabled .Values.tls.clientCA.secretName (ne .Values.tls.clientCA.secretName .Values.tls.secretName) }}{{ .Values.tls.clientCA.secretName }}{{ end -}}
{{- end -}}

{{- define "docgate.clientCAFile" -}}
{{- if include "docgate.separateClientCASecret" . -}}
/var/run/secrets/docgate/client-ca/{{ .Values.tls.clientCA.key }}
{{- else -}}
/var/run/secrets/docgate/tls/{{ .Values.tls.clientCA.key }}
{{- end -}}
{{- end -}}

{{/* An alert's runbook_url annotation: prometheusRule.runbookUrl with the alert's
anchor in the chart's README; nothing when runbookUrl is empty. */}}
{{- define "docgate.runbookUrl" -}}
{{- if .base }}runbook_url: {{ .base }}#{{ .alert }}{{ end }}
{{- end }}
