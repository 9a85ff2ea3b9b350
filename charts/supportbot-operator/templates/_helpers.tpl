{{/* Names and labels shared by every template. */}}

{{- define "supportbot-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "supportbot-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "supportbot-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "supportbot-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "supportbot-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "supportbot-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: supportbot
{{- end }}

{{- define "supportbot-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "supportbot-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The namespaces the operator serves, comma-separated; empty means every namespace (clusterWide).
Default: the release namespace only.
*/}}
{{- define "supportbot-operator.servedNamespaces" -}}
{{- if .Values.clusterWide }}
{{- if .Values.watchNamespaces }}
{{- fail "clusterWide=true serves every namespace: leave watchNamespaces empty" }}
{{- end }}
{{- else if .Values.watchNamespaces }}
{{- join "," .Values.watchNamespaces }}
{{- else }}
{{- .Release.Namespace }}
{{- end }}
{{- end }}

{{- define "supportbot-operator.leaseName" -}}
{{- printf "%s-leader" (include "supportbot-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "supportbot-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The operator's permissions on tenant namespaces: exactly the verbs it uses.
- supportbots: list/watch (kopf), status: patch (conditions), finalizers: update (owner
  references with blockOwnerDeletion where OwnerReferencesPermissionEnforcement is on).
- children: list/watch (in-memory index), get (name-conflict check), create + patch (server-side
  apply; creating through apply needs both), delete only for the optional Ingress and
  NetworkPolicy and for the serving workload (Deployments, HPAs) of a tenant whose WhatsApp
  number an older SupportBot holds.
- secrets: list/watch only (digests of referenced keys; values are never kept or logged).
- configmaps: get for the flow source, patch for the validated copy.
- events: create.
*/}}
{{- define "supportbot-operator.tenantRules" -}}
- apiGroups: [supportbot.dev]
  resources: [supportbots]
  verbs: [list, watch]
- apiGroups: [supportbot.dev]
  resources: [supportbots/status]
  verbs: [patch]
- apiGroups: [supportbot.dev]
  resources: [supportbots/finalizers]
  verbs: [update]
- apiGroups: [""]
  resources: [serviceaccounts, services, configmaps]
  verbs: [get, list, watch, create, patch]
{{- if eq .Values.secrets.access "referenced" }}
{{- if .Values.secrets.names }}
- apiGroups: [""]
  resources: [secrets]
  resourceNames: {{ toJson .Values.secrets.names }}
  verbs: [get]
{{- end }}
{{- else }}
- apiGroups: [""]
  resources: [secrets]
  verbs: [list, watch]
{{- end }}
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch, create, patch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies, ingresses]
  verbs: [get, list, watch, create, patch, delete]
# KEDA (a worker with autoscaling.metric QueueDepth): the worker's ScaledObject and the
# TriggerAuthentication that points KEDA at keys of the tenant's own Redis Secret.
- apiGroups: [keda.sh]
  resources: [scaledobjects, triggerauthentications]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}
