"""The synthetic API-calling dataset's generator, in parts (training/gen_dataset.py is its command):

    values           slot-value lists, split in two halves (train / test) by a seeded shuffle, and
                     the train-only words drawn from the tokenizer's vocabulary
    templates        surface forms of enum values, the train and test phrasing templates of each API,
                     request prefixes and suffixes, the fixed replies, no-call turns, clarifications
    extra_templates  the training-only phrasing pools of --variety 1-10 and their distance check
    conversation     template expansion, phrasing noise and the conversation builder (Gen)

Everything is deterministic: the same arguments give byte-identical files (training/DATASET.md).
"""
