{{/* Names, labels, and the pod pieces every Docket workload shares. */}}

{{- define "docket.fullname" -}}
{{- if contains "docket" .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-docket" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The name of one component's objects: dict "root" $ "component" "joiner". */}}
{{- define "docket.name" -}}
{{- printf "%s-%s" (include "docket.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "docket.selectorLabels" -}}
app.kubernetes.io/name: docket
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "docket.labels" -}}
{{ include "docket.selectorLabels" . }}
app.kubernetes.io/part-of: docket
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "docket.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Fails the render with a message when a required value is empty. */}}
{{- define "docket.required" -}}
{{- if not .value -}}
{{- fail (printf "%s must be set" .name) -}}
{{- end -}}
{{- end -}}

{{/* Pod-level security: the restricted Pod Security Standard. */}}
{{- define "docket.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level security: read-only root, no privilege escalation, no capabilities. */}}
{{- define "docket.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Prometheus scrape annotations: dict "root" $ "port" 9464. */}}
{{- define "docket.podAnnotations" -}}
{{- if .root.Values.metrics.scrapeAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with .root.Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* One environment variable per entry of a secretEnv list: name, secretName, key. */}}
{{- define "docket.secretEnv" -}}
{{- range . }}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .key }}
{{- end }}
{{- end -}}

{{/* Plain variables from a map, in name order. */}}
{{- define "docket.plainEnv" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* Kafka, registry and logging settings every Docket process reads. */}}
{{- define "docket.commonEnv" -}}
{{- include "docket.required" (dict "value" .Values.kafka.bootstrap "name" "kafka.bootstrap") }}
{{- include "docket.required" (dict "value" .Values.schemaRegistry.url "name" "schemaRegistry.url") }}
- name: DOCKET_KAFKA_BOOTSTRAP
  value: {{ .Values.kafka.bootstrap | quote }}
- name: DOCKET_SCHEMA_REGISTRY_URL
  value: {{ .Values.schemaRegistry.url | quote }}
- name: RUST_LOG
  value: {{ .Values.logLevel | quote }}
{{- range $property, $value := .Values.kafka.properties }}
- name: {{ printf "DOCKET_KAFKA_PROP_%s" ($property | replace "." "_" | upper) }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- range .Values.kafka.secretProperties }}
- name: {{ printf "DOCKET_KAFKA_PROP_%s" (.property | replace "." "_" | upper) }}
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .key }}
{{- end }}
{{- end -}}

{{/* Volumes every Docket pod has: a small /tmp, and the Kafka TLS files when given. */}}
{{- define "docket.commonVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- with .Values.kafka.tlsSecret }}
- name: kafka-tls
  secret:
    secretName: {{ . }}
{{- end }}
{{- end -}}

{{- define "docket.commonVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.kafka.tlsSecret }}
- name: kafka-tls
  mountPath: /etc/docket/kafka-tls
  readOnly: true
{{- end }}
{{- end -}}

{{/* HTTP probes on /healthz (liveness) and /readyz (readiness) of a named port. */}}
{{- define "docket.probes" -}}
livenessProbe:
  httpGet: {path: /healthz, port: {{ . }}}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 6
readinessProbe:
  httpGet: {path: /readyz, port: {{ . }}}
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 3
{{- end -}}

{{/* Scheduling settings shared by every pod. */}}
{{- define "docket.scheduling" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* A sink's consumer group: the one `docket replay <sink>` resets. */}}
{{- define "docket.sinkGroup" -}}
{{- printf "docket-sink-%s" . -}}
{{- end -}}

{{/* Partitions of a topic, read from the chart's copy of config/topics.conf. */}}
{{- define "docket.partitions" -}}
{{- $topic := .topic -}}
{{- $found := "" -}}
{{- range (.root.Files.Lines "files/topics.conf") -}}
{{- $fields := splitList " " (regexReplaceAll "\\s+" (trim .) " ") -}}
{{- if and (not (hasPrefix "#" (trim .))) (eq (first $fields) $topic) -}}
{{- $found = index $fields 1 -}}
{{- end -}}
{{- end -}}
{{- if not $found -}}
{{- fail (printf "topic %s is not in files/topics.conf" $topic) -}}
{{- end -}}
{{- $found -}}
{{- end -}}

{{/* The most consumers a sink's group can use: the partitions of the largest topic it reads. */}}
{{- define "docket.sinkMaxConsumers" -}}
{{- $enriched := include "docket.partitions" (dict "root" .root "topic" "docket.decisions.enriched.v1") | int -}}
{{- $audit := include "docket.partitions" (dict "root" .root "topic" "docket.audit.v1") | int -}}
{{- if eq .streams "decisions" -}}{{ $enriched }}
{{- else if eq .streams "audit" -}}{{ $audit }}
{{- else -}}{{ max $enriched $audit }}
{{- end -}}
{{- end -}}

{{/* The ServiceAccount a component's pods run as: dict "root" $ "component" "joiner". */}}
{{- define "docket.serviceAccountName" -}}
{{- if .root.Values.serviceAccount.create -}}
{{- include "docket.name" . -}}
{{- else -}}
default
{{- end -}}
{{- end -}}
