module github.com/outrigger-dev/outrigger/sdk/go

go 1.22

require github.com/google/flatbuffers v2.0.8+incompatible
