package config

import (
	_ "embed"
	"fmt"
	"io"
	"strings"
)

// ReferenceCommand regenerates docs/CONFIGURATION.md. The page names it, and so
// does the test that fails when the page and Reference differ.
const ReferenceCommand = "go run ./cmd/herald config --reference > docs/CONFIGURATION.md"

// referenceText is the page around the key table: {{command}} becomes
// ReferenceCommand and {{table}} the table.
//
//go:embed reference.md
var referenceText string

// Reference writes docs/CONFIGURATION.md: referenceText with the key table
// generated from keyTable. `herald config --reference` prints it.
func Reference(w io.Writer) error {
	page := strings.NewReplacer("{{command}}", ReferenceCommand, "{{table}}", referenceTable()).Replace(referenceText)
	_, err := io.WriteString(w, page)
	return err
}

// referenceTable is the Markdown table of every key, in table order.
func referenceTable() string {
	var b strings.Builder
	b.WriteString("| key | type | default | environment | flag | meaning |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, k := range Keys() {
		typ := k.Type
		if k.Secret {
			typ += ", secret"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | `%s` | `%s` | %s |\n",
			k.Name, typ, referenceDefault(k.Default), k.Env, k.Flag, referenceHelp(k.Help))
	}
	return b.String()
}

// referenceDefault shows an empty default as "(empty)", anything else as code.
func referenceDefault(d string) string {
	if d == "" {
		return "(empty)"
	}
	return "`" + d + "`"
}

// referenceHelp escapes what Markdown would read as table or emphasis syntax.
func referenceHelp(help string) string {
	return strings.NewReplacer("|", `\|`, "*", `\*`).Replace(help)
}
