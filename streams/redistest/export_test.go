package redistest

// NodeLine is what the tests see of a parsed CLUSTER NODES line.
type NodeLine struct {
	Master, Failed bool
	Slots          [][2]int
}

func ParseNodeLine(line string) (NodeLine, error) {
	l, err := parseNodeLine(line)
	return NodeLine{Master: l.master, Failed: l.failed, Slots: l.slots}, err
}
