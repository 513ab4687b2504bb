// The version of MetalK8s this agent was bundled for: set by the bundler (the ISO's version);
// 'development' when it runs from source, as in unit tests.
export const AGENT_VERSION: string = process.env.METALK8S_AGENT_VERSION ?? 'development';
