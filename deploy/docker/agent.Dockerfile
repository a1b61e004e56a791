# syntax=docker/dockerfile:1
# seccompose-agent: the agent runs Falco as its child process, so the image is Falco's plus
# Node.js 24 and the agent. Build from the repository root:
#   docker build -f deploy/docker/agent.Dockerfile -t seccompose/agent:0.1.0 .
#
# Base: falcosecurity/falco:<version>-debian. Since Falco 0.40 the plain tag is a distroless
# image without a shell or a C++ runtime we could rely on; the -debian variant is Debian with
# Falco installed without a driver (FALCO_DRIVER_CHOICE=none), which is what modern_ebpf wants:
# its BPF probe is built into the falco binary, so no driver loader runs.

FROM --platform=$BUILDPLATFORM node:24-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY schemas schemas
COPY lib lib
COPY services services
COPY cli cli
RUN npm run build

FROM node:24-slim AS dependencies
WORKDIR /opt/seccompose
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# The same Node.js 24 build as the other images; it needs only glibc, libstdc++ and libgcc_s,
# which the Debian base has.
FROM node:24-slim AS node

FROM falcosecurity/falco:0.44.1-debian
COPY --from=node /usr/local/bin/node /usr/local/bin/node
WORKDIR /opt/seccompose
ENV NODE_ENV=production
COPY package.json ./
COPY --from=dependencies /opt/seccompose/node_modules node_modules
COPY --from=build /src/dist dist
# Root with the capabilities the DaemonSet grants (BPF, PERFMON, SYS_RESOURCE, SYS_PTRACE):
# Falco, the agent's child, needs them.
USER root
ENTRYPOINT ["/usr/local/bin/node", "/opt/seccompose/dist/services/agent/main.js"]
CMD []
