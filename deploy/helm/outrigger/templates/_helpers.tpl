{{/*
Names and labels, as `helm create` writes them.
*/}}
{{- define "outrigger.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "outrigger.fullname" -}}
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

{{- define "outrigger.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "outrigger.selectorLabels" -}}
app.kubernetes.io/name: {{ include "outrigger.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "outrigger.labels" -}}
helm.sh/chart: {{ include "outrigger.chart" . }}
{{ include "outrigger.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "outrigger.configMapName" -}}
{{- printf "%s-config" (include "outrigger.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "outrigger.keysSecretName" -}}
{{- printf "%s-keys" (include "outrigger.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "outrigger.socketPath" -}}
{{- printf "%s/%s" (trimSuffix "/" .Values.sidecar.socketDir) .Values.sidecar.socketName }}
{{- end }}

{{- define "outrigger.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
The sidecar's TOML: the `config` values with the keys the chart owns set from the sidecar's
values ([server] socket, [admin] listen and token), written as TOML, then passed through `tpl`
so strings may use {{ .Values.sidecar.keysDir }} and the like.
*/}}
{{- define "outrigger.config" -}}
{{- $config := deepCopy (.Values.config | default dict) }}
{{- if hasKey $config "admin" }}
{{- fail "config.admin: the chart writes [admin] from sidecar.admin (address, port, tokenSecret, allowedHosts); set those instead" }}
{{- end }}
{{- $server := deepCopy (get $config "server" | default dict) }}
{{- if hasKey $server "socket" }}
{{- fail "config.server.socket: the chart writes it from sidecar.socketDir and sidecar.socketName; set those instead" }}
{{- end }}
{{- $_ := set $server "socket" (include "outrigger.socketPath" .) }}
{{- if not (hasKey $server "watch_config") }}
{{- $_ := set $server "watch_config" (not .Values.rollOnConfigChange) }}
{{- end }}
{{- $_ := set $config "server" $server }}
{{- $address := .Values.sidecar.admin.address }}
{{- if and (contains ":" $address) (not (hasPrefix "[" $address)) }}{{ $address = printf "[%s]" $address }}{{ end }}
{{- $admin := dict "listen" (printf "%s:%d" $address (int .Values.sidecar.admin.port)) }}
{{- if .Values.sidecar.admin.tokenSecret.name }}
{{- $_ := set $admin "token" "${OUTRIGGER_ADMIN_TOKEN}" }}
{{- end }}
{{- with .Values.sidecar.admin.allowedHosts }}
{{- $_ := set $admin "allowed_hosts" . }}
{{- end }}
{{- $_ := set $config "admin" $admin }}
{{- $toml := include "outrigger.toml.table" (list "" $config $) | trim }}
{{- printf "# Rendered by the outrigger Helm chart from its `config` values.\n%s\n" $toml }}
{{- end }}

{{/*
TOML from a map: list ["dotted.path" map]. The table's own keys (scalars and lists of scalars)
come first, then each sub-map as [path.key] (no header for a table that only holds tables)
and each list of maps as [[path.key]]. Values are
written as JSON, which is valid TOML for strings, numbers, booleans and arrays of them; a whole
number is written as an integer. A null value leaves its key out.
*/}}
{{- define "outrigger.toml.table" -}}
{{- $path := index . 0 }}
{{- $table := index . 1 }}
{{- $root := index . 2 }}
{{- range $key, $value := $table }}
{{- if and (not (kindIs "invalid" $value)) (not (kindIs "map" $value)) (not (include "outrigger.toml.isTableList" $value)) }}
{{ include "outrigger.toml.key" $key }} = {{ include "outrigger.toml.value" (list $value $root) }}
{{- end }}
{{- end }}
{{- range $key, $value := $table }}
{{- $sub := include "outrigger.toml.key" $key }}
{{- if $path }}{{ $sub = printf "%s.%s" $path $sub }}{{ end }}
{{- if kindIs "map" $value }}
{{- if or (not $value) (include "outrigger.toml.hasOwnKeys" $value) }}

[{{ $sub }}]
{{- end }}
{{- include "outrigger.toml.table" (list $sub $value $root) }}
{{- else if include "outrigger.toml.isTableList" $value }}
{{- range $value }}

[[{{ $sub }}]]
{{- include "outrigger.toml.table" (list $sub . $root) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* A table header is written only for a table with keys of its own (or none at all). */}}
{{- define "outrigger.toml.hasOwnKeys" -}}
{{- range $key, $value := . }}
{{- if and (not (kindIs "invalid" $value)) (not (kindIs "map" $value)) (not (include "outrigger.toml.isTableList" $value)) }}true{{ end }}
{{- end }}
{{- end }}

{{- define "outrigger.toml.isTableList" -}}
{{- if and (kindIs "slice" .) (gt (len .) 0) (kindIs "map" (first .)) }}true{{ end }}
{{- end }}

{{/*
A value as TOML: [value root]. Each string, alone or in a list, goes through `tpl` first and is
then written as JSON, so what `tpl` gives is escaped too and a template's own quotes never meet
an escaped copy of themselves.
*/}}
{{- define "outrigger.toml.value" -}}
{{- $value := index . 0 }}
{{- $root := index . 1 }}
{{- if kindIs "string" $value }}
{{- toJson (tpl $value $root) }}
{{- else if kindIs "slice" $value }}
{{- $items := list }}
{{- range $value }}
{{- $items = append $items (ternary (tpl (toString .) $root) . (kindIs "string" .)) }}
{{- end }}
{{- toJson $items }}
{{- else }}
{{- toJson $value }}
{{- end }}
{{- end }}

{{- define "outrigger.toml.key" -}}
{{- if regexMatch "^[A-Za-z0-9_-]+$" . }}{{ . }}{{ else }}{{ toJson . }}{{ end }}
{{- end }}

{{/*
The API keys as projected volume sources: each key becomes the file <keysDir>/<name>.
*/}}
{{- define "outrigger.keySources" -}}
{{- $chartKeys := list }}
{{- range $name, $key := .Values.apiKeys }}
{{- if $key.existingSecret }}
- secret:
    name: {{ $key.existingSecret }}
    items:
      - key: {{ $key.secretKey | default "api-key" }}
        path: {{ $name }}
{{- else }}
{{- $chartKeys = append $chartKeys $name }}
{{- end }}
{{- end }}
{{- if $chartKeys }}
- secret:
    name: {{ include "outrigger.keysSecretName" . }}
    items:
      {{- range $chartKeys }}
      - key: {{ . }}
        path: {{ . }}
      {{- end }}
{{- end }}
{{- end }}

{{- define "outrigger.chartKeys" -}}
{{- range $name, $key := .Values.apiKeys }}
{{- if not $key.existingSecret }}{{ $name }} {{ end }}
{{- end }}
{{- end }}

{{/*
Pod template annotations: checksums of the config and of the keys this chart holds, so that a
change rolls the pods (off with rollOnConfigChange: false; the daemon then reloads a changed
ConfigMap by itself).
*/}}
{{- define "outrigger.podAnnotations" -}}
{{- if .Values.rollOnConfigChange }}
checksum/config: {{ include "outrigger.config" . | sha256sum }}
{{- if include "outrigger.chartKeys" . }}
checksum/keys: {{ include "outrigger.keysSecretData" . | sha256sum }}
{{- end }}
{{- end }}
{{- with .Values.workload.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "outrigger.keysSecretData" -}}
{{- range $name, $key := .Values.apiKeys }}
{{- if not $key.existingSecret }}
{{- if not $key.value }}{{ fail (printf "apiKeys.%s: set existingSecret (a Secret you manage) or value" $name) }}{{ end }}
{{ $name }}: {{ $key.value | b64enc | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The sidecar: a native sidecar (an init container with restartPolicy Always). It starts before the
app and the app starts only once its startup probe passed, i.e. once the daemon listens on the
socket (the admin server starts after the socket). A parent chart may include it: see README.md.
*/}}
{{- define "outrigger.sidecarContainer" -}}
- name: {{ .Values.sidecar.name }}
  image: {{ include "outrigger.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  restartPolicy: Always
  args:
    - serve
    - --config
    - {{ printf "%s/outrigger.toml" (trimSuffix "/" .Values.sidecar.configDir) }}
    {{- with .Values.sidecar.extraArgs }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  env:
    - name: OUTRIGGER_SOCKET
      value: {{ include "outrigger.socketPath" . }}
    # A trace store without a path lands in the data folder ($XDG_STATE_HOME/outrigger/).
    - name: XDG_STATE_HOME
      value: {{ .Values.sidecar.dataDir }}
    {{- with .Values.sidecar.admin.tokenSecret }}
    {{- if .name }}
    - name: OUTRIGGER_ADMIN_TOKEN
      valueFrom:
        secretKeyRef:
          name: {{ .name }}
          key: {{ .key }}
    {{- end }}
    {{- end }}
    {{- with .Values.sidecar.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - name: admin
      containerPort: {{ .Values.sidecar.admin.port }}
      protocol: TCP
  startupProbe:
    {{- toYaml .Values.sidecar.startupProbe | nindent 4 }}
  readinessProbe:
    {{- toYaml .Values.sidecar.readinessProbe | nindent 4 }}
  livenessProbe:
    {{- toYaml .Values.sidecar.livenessProbe | nindent 4 }}
  resources:
    {{- toYaml .Values.sidecar.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.sidecar.securityContext | nindent 4 }}
  volumeMounts:
    - name: outrigger-socket
      mountPath: {{ .Values.sidecar.socketDir }}
    - name: outrigger-config
      mountPath: {{ .Values.sidecar.configDir }}
      readOnly: true
    - name: outrigger-data
      mountPath: {{ .Values.sidecar.dataDir }}
    - name: outrigger-tmp
      mountPath: /tmp
    {{- if .Values.apiKeys }}
    - name: outrigger-keys
      mountPath: {{ .Values.sidecar.keysDir }}
      readOnly: true
    {{- end }}
{{- end }}

{{/*
The pod volumes the sidecar needs.
*/}}
{{- define "outrigger.volumes" -}}
- name: outrigger-socket
  emptyDir:
    {{- toYaml .Values.sidecar.socketVolume | nindent 4 }}
- name: outrigger-config
  configMap:
    name: {{ include "outrigger.configMapName" . }}
- name: outrigger-data
  emptyDir:
    {{- toYaml .Values.sidecar.dataVolume | nindent 4 }}
- name: outrigger-tmp
  emptyDir:
    {{- toYaml .Values.sidecar.tmpVolume | nindent 4 }}
{{- if .Values.apiKeys }}
- name: outrigger-keys
  projected:
    defaultMode: 0440
    sources:
      {{- include "outrigger.keySources" . | nindent 6 }}
{{- end }}
{{- end }}

{{/*
What the application container needs to reach the sidecar: the socket folder and its path.
*/}}
{{- define "outrigger.appVolumeMounts" -}}
- name: outrigger-socket
  mountPath: {{ .Values.sidecar.socketDir }}
{{- end }}

{{- define "outrigger.appEnv" -}}
- name: OUTRIGGER_SOCKET
  value: {{ include "outrigger.socketPath" . }}
{{- end }}
