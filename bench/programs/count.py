# Counts to 100,000,000.
i = 0
while i < 100000000:
    i = i + 1
print(i)
