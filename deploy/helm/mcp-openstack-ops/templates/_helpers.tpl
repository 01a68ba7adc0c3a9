{{- define "ops.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ops.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ops.labels" -}}
app.kubernetes.io/name: {{ include "ops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "ops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The Secret holding clouds.yaml, the token and the database URL (the chart's, or yours). */}}
{{- define "ops.cloudsSecret" -}}
{{- default (include "ops.fullname" .) .Values.openstack.existingSecret -}}
{{- end -}}
{{- define "ops.tokenSecret" -}}
{{- default (include "ops.fullname" .) .Values.auth.existingSecret -}}
{{- end -}}
{{- define "ops.databaseSecret" -}}
{{- default (include "ops.fullname" .) .Values.database.existingSecret -}}
{{- end -}}
{{- define "ops.postgres" -}}
{{- if or .Values.database.url .Values.database.existingSecret -}}true{{- end -}}
{{- end -}}
