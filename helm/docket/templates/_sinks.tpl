{{/* What each sink reads from its own values: the variables its binary documents. */}}

{{/* dict "root" $ "name" "s3" "sink" $sink */}}
{{- define "docket.sinkEnv" -}}
{{- $s := .sink -}}
{{- $ctx := printf "sinks.%s" .name -}}
{{- if eq .name "s3" }}
{{- include "docket.required" (dict "value" $s.bucket "name" (printf "%s.bucket" $ctx)) }}
- name: DOCKET_S3_BUCKET
  value: {{ $s.bucket | quote }}
- name: DOCKET_S3_PREFIX
  value: {{ $s.prefix | quote }}
{{- with $s.region }}
- name: DOCKET_S3_REGION
  value: {{ . | quote }}
{{- end }}
{{- with $s.endpoint }}
- name: DOCKET_S3_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with $s.aws.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef: {name: {{ . }}, key: {{ $s.aws.accessKeyIdKey }}}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef: {name: {{ . }}, key: {{ $s.aws.secretAccessKeyKey }}}
{{- end }}
{{- else if eq .name "splunk" }}
{{- include "docket.required" (dict "value" $s.url "name" (printf "%s.url" $ctx)) }}
{{- include "docket.required" (dict "value" $s.token.existingSecret "name" (printf "%s.token.existingSecret" $ctx)) }}
- name: DOCKET_SPLUNK_URL
  value: {{ $s.url | quote }}
- name: DOCKET_SPLUNK_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ $s.token.existingSecret }}, key: {{ $s.token.key }}}
{{- with $s.index }}
- name: DOCKET_SPLUNK_INDEX
  value: {{ . | quote }}
{{- end }}
- name: DOCKET_SPLUNK_ACK
  value: {{ $s.ack | quote }}
{{- else if eq .name "datadog" }}
{{- include "docket.required" (dict "value" $s.apiKey.existingSecret "name" (printf "%s.apiKey.existingSecret" $ctx)) }}
- name: DOCKET_DATADOG_SITE
  value: {{ $s.site | quote }}
{{- with $s.url }}
- name: DOCKET_DATADOG_URL
  value: {{ . | quote }}
{{- end }}
- name: DOCKET_DATADOG_API_KEY
  valueFrom:
    secretKeyRef: {name: {{ $s.apiKey.existingSecret }}, key: {{ $s.apiKey.key }}}
{{- else if eq .name "otlp" }}
{{- include "docket.required" (dict "value" $s.endpoint "name" (printf "%s.endpoint" $ctx)) }}
- name: DOCKET_OTLP_ENDPOINT
  value: {{ $s.endpoint | quote }}
{{- with $s.headers.existingSecret }}
- name: DOCKET_OTLP_HEADERS
  valueFrom:
    secretKeyRef: {name: {{ . }}, key: {{ $s.headers.key }}}
{{- end }}
{{- end }}
{{- end -}}
