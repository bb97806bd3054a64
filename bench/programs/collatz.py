# The longest Collatz chain starting below 300,000: prints its start and its length.
best = 0
best_len = 0
n = 1
while n < 300000:
    x = n
    length = 1
    while x != 1:
        if x % 2 == 0:
            x //= 2
        else:
            x = 3 * x + 1
        length += 1
    if length > best_len:
        best_len = length
        best = n
    n += 1
print(best)
print(best_len)
