# One million lines of output, for a pipe.
i = 0
while i < 1000000:
    print(i)
    i += 1
