package blocklist

import "slices"

// Input is one blocklist file already read into memory: Name stands for
// its path in messages and Source fields.
type Input struct {
	Name string
	Data []byte
}

// LoadInputs is Load over files already read (a fleet sensor gets them
// from the NATS key-value bucket): the same parser, formats, rule numbers
// and "name:line: reason" problems as Load of files with those paths.
// The data is copied: the caller may reuse it.
func LoadInputs(inputs []Input, opts Options) (*List, error) {
	l, err := newLoader(opts)
	if err != nil {
		return nil, err
	}
	ins := make([]input, len(inputs))
	for i, in := range inputs {
		ins[i] = input{index: i, path: in.Name, data: slices.Clone(in.Data)}
	}
	l.parseInputs(ins)
	return l.finish()
}
