// Package templatetest holds tests only. They prove that the SAM application
// agrees with the code: template.yaml sets exactly the environment variables
// the handler reads, grants exactly the calls the code makes on exactly its
// resources, builds the way the Makefile builds, and that the sample
// payloads under events/ are ones the handler accepts or emits.
package templatetest
