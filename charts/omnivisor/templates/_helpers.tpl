{{/* The release's base name: the release name, or <release>-omnivisor when it does not say omnivisor. */}}
{{- define "omnivisor.fullname" -}}
{{- if contains "omnivisor" .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-omnivisor" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "omnivisor.labels" -}}
app.kubernetes.io/name: omnivisor
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "omnivisor.managerSelector" -}}
app.kubernetes.io/name: omnivisor
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end -}}

{{- define "omnivisor.watcherSelector" -}}
app.kubernetes.io/name: omnivisor
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: status-watcher
{{- end -}}

{{- define "omnivisor.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* Namespaces Host credentials may come from (default: the release namespace). */}}
{{- define "omnivisor.credentialsNamespaces" -}}
{{- if .Values.credentialsNamespaces -}}
{{- join "," .Values.credentialsNamespaces -}}
{{- else -}}
{{- .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{- define "omnivisor.managerServiceAccount" -}}{{ include "omnivisor.fullname" . }}-manager{{- end -}}
{{- define "omnivisor.watcherServiceAccount" -}}{{ include "omnivisor.fullname" . }}-status-watcher{{- end -}}
{{- define "omnivisor.leaseName" -}}{{ include "omnivisor.fullname" . }}-manager{{- end -}}
{{- define "omnivisor.webhookService" -}}{{ include "omnivisor.fullname" . }}-webhook{{- end -}}
{{- define "omnivisor.webhookSecret" -}}{{ include "omnivisor.fullname" . }}-webhook-cert{{- end -}}
{{- define "omnivisor.webhookConfiguration" -}}{{ include "omnivisor.fullname" . }}-{{ .Release.Namespace }}{{- end -}}

{{/* The container security context every Omnivisor container runs with. */}}
{{- define "omnivisor.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
