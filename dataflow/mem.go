package dataflow

import "github.com/apache/arrow-go/v18/arrow/memory"

func memoryBuffer(b []byte) *memory.Buffer { return memory.NewBufferBytes(b) }
