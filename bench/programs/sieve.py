# The sieve of Eratosthenes up to 2,000,000, five times over a fresh array: the number of primes
# and the largest.
n = 2000000
count = 0
largest = 0
round = 0
while round < 5:
    flags = [1] * (n + 1)
    count = 0
    p = 2
    while p <= n:
        if flags[p] == 1:
            count += 1
            largest = p
            m = p * p
            while m <= n:
                flags[m] = 0
                m += p
        p += 1
    round += 1
print(count)
print(largest)
