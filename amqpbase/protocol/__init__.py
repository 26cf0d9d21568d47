"""Sans-I/O protocol machines (issue 11): the connection machine and the channel machine own
all protocol state; they take inputs (frames, stream events, timer expiries, API requests)
and return actions. No callbacks, hooks, clock or user code in here.

``seams`` holds the two narrow interfaces between a connection and its channels.
"""
