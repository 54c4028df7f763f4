{{- define "pylon.name" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "pylon.labels" -}}
app.kubernetes.io/name: pylon
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "pylon.selector" -}}
app.kubernetes.io/name: pylon
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
